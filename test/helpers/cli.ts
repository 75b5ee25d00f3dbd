import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The built CLI as a user runs it: `node bin/run.js ...` in a child process (dist/ is built by
 * test/global-setup.ts). Shared by every end-to-end test.
 */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = join(ROOT, 'bin/run.js')

export interface CliRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

export interface CliOptions {
  stdin?: string | Buffer
  env?: Record<string, string | undefined>
  /** Kill the child after this many ms (the test then sees signal SIGKILL). */
  timeout?: number
}

export function spawnCli(args: string[], env: Record<string, string | undefined> = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, ...env } })
}

/** Runs the CLI to completion and collects its output and exit code. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolveRun, reject) => {
    const child = spawnCli(args, options.env)
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = options.timeout ? setTimeout(() => child.kill('SIGKILL'), options.timeout) : undefined
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      resolveRun({ code, signal, stdout, stderr })
    })
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.stdin ?? '')
  })
}

export interface ServeProcess {
  child: ChildProcessWithoutNullStreams
  /** The bound URLs, in the order given, from serve's "listening on URL" lines (stderr). */
  urls: string[]
  stdout(): string
  stderr(): string
  /** Sends SIGTERM and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * How long `startServe` waits for the listening lines. A cold start is about 1.5 s, but with
 * the whole suite on two shared cores it has been seen past 10 s.
 */
export const SERVE_START_TIMEOUT = 25_000

/**
 * Starts `stmpcat serve ARGS` and resolves once it printed one "listening on URL" line per
 * listener (`count`, default 1). Use port 0 in the URLs: the lines carry the real ports.
 */
export function startServe(args: string[], count = 1, env: Record<string, string | undefined> = {}): Promise<ServeProcess> {
  const child = spawnCli(['serve', ...args], env)
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  return new Promise((resolveStart, reject) => {
    const urls: string[] = []
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`serve did not start in ${SERVE_START_TIMEOUT / 1000} s; stderr:\n${err}`))
    }, SERVE_START_TIMEOUT)
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d
      for (const m of d.matchAll(/listening on (\S+)/g)) urls.push(m[1])
      if (urls.length >= count) {
        clearTimeout(timer)
        resolveStart({
          child,
          urls,
          stdout: () => out,
          stderr: () => err,
          stop: (signal = 'SIGTERM') => new Promise((r) => {
            if (child.exitCode !== null) return r(child.exitCode)
            child.once('exit', (code) => r(code))
            child.kill(signal)
          }),
        })
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (urls.length < count) reject(new Error(`serve exited ${code} before listening; stderr:\n${err}`))
    })
  })
}
