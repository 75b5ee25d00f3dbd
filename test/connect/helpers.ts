import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { type ServerOptions, StmpServer } from '../../src/lib/session/index.js'
import { formatAddress, parseAddress } from '../../src/lib/transport/index.js'
import { type CliRun, type ServeProcess, spawnCli, startServe } from '../helpers/cli.js'
import { tempDir } from '../helpers/tmp.js'

/** An in-process STMP server on 127.0.0.1 (port 0 unless given), echo by default. */
export async function startServer(options: ServerOptions = {}, port = 0): Promise<{ server: StmpServer; url: string; port: number }> {
  const server = new StmpServer(options)
  const listener = await server.listen(parseAddress(`tcp://127.0.0.1:${port}`, { listening: true }))
  const url = formatAddress(listener.address)
  return { server, url, port: Number(new URL(url).port) }
}

/** Kills the server the hard way: every connection cut, listeners closed (a crash, not a goodbye). */
export async function crash(server: StmpServer): Promise<void> {
  for (const s of server.sessions.values()) s.transport.destroy()
  await server.close(50)
}

/** A port nothing listens on: bind port 0, note it, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

export interface LiveCli {
  write(text: string): void
  end(): void
  /** Resolves once stdout holds a line for which `match` is true. */
  waitFor(match: (line: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>
  done: Promise<CliRun>
  /** Resolves once stderr contains `text`. */
  waitForStderr(text: string, ms?: number): Promise<void>
}

/** `stmpcat ARGS` as a child process whose stdin the test writes line by line. */
export function liveCli(args: string[]): LiveCli {
  const child = spawnCli(args)
  let stdout = ''
  let stderr = ''
  const waiters: Array<() => void> = []
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
    for (const w of waiters.splice(0)) w()
  })
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
    for (const w of waiters.splice(0)) w()
  })
  child.stdin.on('error', () => undefined)
  const done = new Promise<CliRun>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
  const lines = () => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
  return {
    write: (text) => child.stdin.write(text),
    end: () => child.stdin.end(),
    done,
    waitForStderr: (text, ms = 30_000) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`stderr did not show ${JSON.stringify(text)} within ${ms} ms; stderr:\n${stderr}`))
      }, ms)
      const check = () => {
        if (stderr.includes(text)) {
          clearTimeout(timer)
          resolve()
        } else waiters.push(check)
      }
      check()
    }),
    waitFor: (match, ms = 30_000) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`no matching line within ${ms} ms; stdout:\n${stdout}\nstderr:\n${stderr}`))
      }, ms)
      const check = () => {
        const found = lines().find(match)
        if (found) {
          clearTimeout(timer)
          resolve(found)
        } else waiters.push(check)
      }
      check()
    }),
  }
}

export function ndjson(text: string): Record<string, unknown>[] {
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
}

/**
 * `stmpcat serve` on tcp port 0 with `flag FILE`, FILE holding `text` in a new temp folder
 * (routes or a handler module). startServe gives serve 10 s to listen; a loaded CI machine can
 * need a second try.
 */
export function serveWithFile(flag: '--routes' | '--handler', name: string, text: string): Promise<ServeProcess> {
  const file = join(tempDir('stmpcat-connect-'), name)
  writeFileSync(file, text)
  const args = ['tcp://127.0.0.1:0', flag, file]
  return startServe(args).catch(() => startServe(args))
}
