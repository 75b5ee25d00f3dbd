import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import { afterEach, vi } from 'vitest'
import { type AnyFrame, StreamDecoder } from '../../src/lib/codec/index.js'
import { type ConnectOptions, type Session, connect } from '../../src/lib/session/index.js'
import { type ServeProcess, startServe } from '../helpers/cli.js'
import { tempDir as makeTempDir } from '../helpers/tmp.js'

// Every test here spawns the built CLI; on two shared cores a start can take many seconds.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 })

/** Servers and clients a test started, cleaned up after each test. */
const running: ServeProcess[] = []
const sessions: Session[] = []

afterEach(async () => {
  for (const s of sessions.splice(0)) s.transport.destroy()
  await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')))
})

export async function serve(args: string[], count = 1, env: Record<string, string | undefined> = {}): Promise<ServeProcess> {
  const p = await startServe(args, count, env)
  running.push(p)
  return p
}

export async function client(url: string, options: ConnectOptions = {}): Promise<Session> {
  const c = await connect(url, { timeout: 5000, requestTimeout: 5000, ...options })
  sessions.push(c)
  return c
}

export function tempDir(): string {
  return makeTempDir('stmp-serve-')
}

export function writeFile(dir: string, name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

export { testCertificate } from '../helpers/tls.js'

export const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))
export const parse = (payload: Buffer): unknown => JSON.parse(payload.toString('utf8'))
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Waits until `check` is true (polling), or fails after `ms`. */
export async function until(check: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

/** The NDJSON objects a serve process printed on stdout so far. */
export function ndjson(p: ServeProcess): Array<Record<string, unknown>> {
  return p.stdout().split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
}

/**
 * A raw TCP peer of a serve listener: no STMP client code, the server's frames (its handshake
 * answer first) decoded as they come. The test writes what it wants on `socket`.
 */
export function rawSocket(url: string): { socket: net.Socket; frames: AnyFrame[]; closed: Promise<void> } {
  const { port } = new URL(url.replace(/^tcp:/, 'http:'))
  const socket = net.connect({ host: '127.0.0.1', port: Number(port) })
  const frames: AnyFrame[] = []
  const decoder = new StreamDecoder((frame) => frames.push(frame), () => undefined, { handshake: 'server' })
  socket.on('data', (chunk: Buffer) => decoder.write(chunk))
  socket.on('error', () => undefined)
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  return { socket, frames, closed }
}
