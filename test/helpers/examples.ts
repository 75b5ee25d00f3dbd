import { type ChildProcess, spawn } from 'node:child_process'
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { BIN, ROOT } from './cli.js'

/**
 * Running documented examples (README code blocks, `--help` examples) as a user would: in bash,
 * in a scratch directory where `examples/` is the repository's and a bare `stmpcat` on PATH is
 * the built CLI (what `npm link` gives).
 */

export const EXAMPLE_TIMEOUT = 60_000

export interface Shell { code: number | null; stdout: string; stderr: string }

export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

export class ExampleShell {
  readonly started: ChildProcess[] = []

  constructor(readonly dir: string) {
    const binDir = join(dir, 'bin')
    mkdirSync(binDir)
    writeFileSync(join(binDir, 'stmpcat'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`)
    chmodSync(join(binDir, 'stmpcat'), 0o755)
    // The examples name files relative to the repository's root.
    symlinkSync(join(ROOT, 'examples'), join(dir, 'examples'))
  }

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, PATH: `${join(this.dir, 'bin')}:${process.env.PATH ?? ''}`, NO_COLOR: '1', FORCE_COLOR: undefined, npm_command: undefined }
  }

  /** Runs a script in bash in its own process group; the group is killed when it ends. */
  run(script: string, timeout = EXAMPLE_TIMEOUT): Promise<Shell> {
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', script], { cwd: this.dir, env: this.env(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeout)
      child.on('error', reject)
      child.on('close', (code) => {
        clearTimeout(timer)
        // Anything the example left in the background goes with it.
        killGroup(child, 'SIGTERM')
        resolve({ code, stdout, stderr })
      })
    })
  }

  /** Starts a long-running example; resolves once `ready(stdout, stderr)` holds. */
  start(script: string, ready: (stdout: string, stderr: string) => boolean): Promise<{ child: ChildProcess; stdout: () => string; stderr: () => string }> {
    return new Promise((resolve, reject) => {
      const child = spawn('bash', ['-c', script], { cwd: this.dir, env: this.env(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
      this.started.push(child)
      let stdout = ''
      let stderr = ''
      const timer = setTimeout(() => reject(new Error(`${script}: not ready after ${EXAMPLE_TIMEOUT} ms: ${stderr}`)), EXAMPLE_TIMEOUT)
      const check = () => {
        if (ready(stdout, stderr)) {
          clearTimeout(timer)
          resolve({ child, stdout: () => stdout, stderr: () => stderr })
        }
      }
      child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; check() })
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; check() })
      child.on('exit', (code) => reject(new Error(`${script}: exited ${code} before it was ready: ${stderr}`)))
    })
  }

  /** Starts a serve example; resolves with its bound URLs once every listener is up. */
  async serve(script: string): Promise<{ urls: string[]; child: ChildProcess }> {
    const want = Math.max(1, (script.replace(/\s#.*$/, '').match(/(tcp|ws|wss|tls):\/\/|unix:|(^|\s):\d+/g) ?? []).length)
    const urlsOf = (stderr: string) => [...stderr.matchAll(/listening on (\S+)/g)].map((m) => m[1])
    const { child, stderr } = await this.start(script, (_, err) => urlsOf(err).length >= want)
    return { urls: urlsOf(stderr()), child }
  }

  async stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return
    const gone = new Promise((resolve) => child.once('exit', resolve))
    killGroup(child, 'SIGTERM')
    await gone
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.started.map((c) => this.stop(c).catch(() => undefined)))
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-(child.pid as number), signal)
  } catch {
    // already gone
  }
}
