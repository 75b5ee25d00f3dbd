import net from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { BinaryReader, MSG, encodeBinary, type BinaryMessage } from '../../../src/lib/dialects/sockhop/codec.js'
import { TRANSITION_GAP_MS } from '../../../src/lib/dialects/sockhop/wire.js'
import { type ServeProcess, runCli, startServe } from '../../helpers/cli.js'
import { tempDir } from '../../helpers/tmp.js'

/**
 * Sockhop 2.x live, over a Unix socket (as the real 2.1.0 transcript was recorded): stmpcat's
 * client against a peer that answers as the real 2.1.0 server did (fixtures/sockhop/README.md),
 * and stmpcat serve against a peer that talks as the real 2.1.0 client did, including its habit of
 * sending binary frames in the same write as its transition line (the real server's bug).
 * stmpcat's own transition line and its first binary frame never share a read.
 */
const dir = tempDir('stmpcat-sockhop2-')
const line = (o: unknown) => Buffer.from(`${JSON.stringify(o)}\n`)
const HANDSHAKE = (id: string) => line({ type: 'SockhopHandshake', data: { protocol_version: 2, library_version: '2.1.0', request_binary_mode: true }, id })
const TRANSITION = line({ type: 'SockhopBinaryModeTransition', data: {} })

/** One side of a 2.x conversation: JSON lines until the peer's transition, binary frames after; every read timed. */
class Peer {
  readonly reads: { at: number; bytes: Buffer }[] = []
  readonly lines: Record<string, unknown>[] = []
  readonly frames: BinaryMessage[] = []
  private text = ''
  private binary?: BinaryReader
  constructor(readonly socket: net.Socket, private readonly onLine: (o: Record<string, unknown>) => void, private readonly onFrame: (m: BinaryMessage) => void) {
    socket.on('data', (d: Buffer) => {
      this.reads.push({ at: performance.now(), bytes: d })
      this.feed(d)
    })
  }

  private feed(d: Buffer): void {
    if (this.binary) return this.binary.write(d)
    this.text += d.toString('latin1')
    let nl: number
    while ((nl = this.text.indexOf('\n')) !== -1) {
      const o = JSON.parse(Buffer.from(this.text.slice(0, nl), 'latin1').toString('utf8')) as Record<string, unknown>
      const rest = Buffer.from(this.text.slice(nl + 1), 'latin1')
      this.text = ''
      this.lines.push(o)
      if (o.type === 'SockhopBinaryModeTransition') {
        this.binary = new BinaryReader(1 << 20, (m) => { this.frames.push(m); this.onFrame(m) })
        if (rest.length > 0) this.binary.write(rest)
        return
      }
      this.onLine(o)
      this.text = rest.toString('latin1')
    }
  }
}

let server: net.Server | undefined
let serve: ServeProcess | undefined
afterEach(async () => {
  server?.close()
  await serve?.stop()
  serve = undefined
})

describe('sockhop 2.x: stmpcat fetch -O version=2 against a 2.1.0-like server', () => {
  it('both handshakes, both transitions, the request as binary message 11 after the gap, the answer printed', async () => {
    const path = join(dir, 'server.sock')
    let peer: Peer | undefined
    server = net.createServer((socket) => {
      // The real server sends its handshake at once, without waiting for the client's.
      socket.write(HANDSHAKE('708584cc-070b-41de-a4fb-58561cf7df8e'))
      let txBinary = false
      peer = new Peer(socket, (o) => {
        if (o.type === 'SockhopHandshake') socket.write(line({ type: 'Object', data: { allow_binary_mode: true }, callback_id: o.id }))
        if (o.callback_id === '708584cc-070b-41de-a4fb-58561cf7df8e' && (o.data as { allow_binary_mode?: boolean }).allow_binary_mode) {
          socket.write(TRANSITION)
          txBinary = true
        }
      }, (m) => {
        if (m.msgId === MSG.jsonRequest && txBinary) socket.write(encodeBinary({ msgId: MSG.jsonResponse, type: 'Object', data: Buffer.from(`{"ok":true,"echo":${m.data.toString()}}`), callbackId: m.callbackId }))
      })
    })
    await new Promise<void>((r) => server!.listen(path, r))
    const r = await runCli(['fetch', '--dialect', 'sockhop', '-O', 'version=2', `unix:${path}`, 'Object', '{"q":42}'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, echo: { q: 42 } })
    const p = peer as Peer
    expect(p.lines.map((o) => o.type)).toEqual(['SockhopHandshake', 'Object', 'SockhopBinaryModeTransition'])
    expect(p.lines[0]).toMatchObject({ data: { protocol_version: 2, request_binary_mode: true } })
    expect(p.frames).toEqual([expect.objectContaining({ msgId: MSG.jsonRequest, type: 'Object', data: Buffer.from('{"q":42}') })])
    // The transition line is the end of a read, and the binary frame comes in a later one, after the gap.
    const t = p.reads.findIndex((read) => read.bytes.includes(Buffer.from('SockhopBinaryModeTransition')))
    expect(p.reads[t].bytes.subarray(-1).toString()).toBe('\n')
    expect(p.reads[t + 1].at - p.reads[t].at).toBeGreaterThanOrEqual(TRANSITION_GAP_MS - 5)
  })

  it('-O version=3 is refused with a coded error, and a 1.x server (no handshake) times the handshake out: exit 4', async () => {
    const bad = await runCli(['fetch', '--dialect', 'sockhop', '-O', 'version=3', 'unix:/nonexistent.sock', 'Object', '{}'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('BAD_FLAG: -O version=3: Sockhop versions are 1')
    const path = join(dir, 'v1.sock')
    server = net.createServer(() => undefined)
    await new Promise<void>((r) => server!.listen(path, r))
    const r = await runCli(['fetch', '--dialect', 'sockhop', '-O', 'version=2', `unix:${path}`, 'Object', '{}', '--timeout', '1s'])
    expect(r.stderr).toContain('HANDSHAKE_TIMEOUT')
    expect(r.code).toBe(4)
  })
})

describe('sockhop 2.x: stmpcat serve against a 2.1.0-like client', () => {
  it('answers the handshake with its own, reads binary frames sent in the same write as the transition, answers in binary after the gap', async () => {
    serve = await startServe(['--dialect', 'sockhop', `unix:${join(dir, 'serve.sock')}`])
    const socket = net.connect(join(dir, 'serve.sock'))
    const answers: BinaryMessage[] = []
    const peer = new Peer(socket, (o) => {
      // The server's handshake: answered; then our transition and a binary request in ONE write (what breaks the real server).
      if (o.type === 'SockhopHandshake') socket.write(line({ type: 'Object', data: { allow_binary_mode: true }, callback_id: o.id }))
      if (o.callback_id === 'c1a2b3c4-0000-4000-8000-000000000001' && (o.data as { allow_binary_mode?: boolean }).allow_binary_mode) {
        socket.write(Buffer.concat([TRANSITION, encodeBinary({ msgId: MSG.jsonRequest, type: 'Object', data: Buffer.from('{"q":42}'), callbackId: 'a7d3fae9-2bed-410a-b950-a8911501f554' }), encodeBinary({ msgId: MSG.buffer, type: 'Blob', data: Buffer.from('dead', 'hex') })]))
      }
    }, (m) => answers.push(m))
    await new Promise<void>((r) => socket.once('connect', () => r()))
    socket.write(HANDSHAKE('c1a2b3c4-0000-4000-8000-000000000001'))
    const deadline = Date.now() + 5000
    while (answers.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(peer.lines.map((o) => o.type)).toEqual(['SockhopHandshake', 'Object', 'SockhopBinaryModeTransition'])
    expect(answers).toEqual([{ msgId: MSG.jsonResponse, type: 'Object', data: Buffer.from('{"q":42}'), callbackId: 'a7d3fae9-2bed-410a-b950-a8911501f554' }])
    const t = peer.reads.findIndex((read) => read.bytes.includes(Buffer.from('SockhopBinaryModeTransition')))
    expect(peer.reads[t].bytes.subarray(-1).toString()).toBe('\n')
    expect(peer.reads[t + 1].at - peer.reads[t].at).toBeGreaterThanOrEqual(TRANSITION_GAP_MS - 5)
    socket.end()
  })

  it('-O version=1 (compatibility mode): a handshake is ignored, JSON mode both ways', async () => {
    serve = await startServe(['--dialect', 'sockhop', '-O', 'version=1', `unix:${join(dir, 'compat.sock')}`])
    const socket = net.connect(join(dir, 'compat.sock'))
    const got: Record<string, unknown>[] = []
    new Peer(socket, (o) => got.push(o), () => undefined)
    await new Promise<void>((r) => socket.once('connect', () => r()))
    socket.write(Buffer.concat([HANDSHAKE('c1a2b3c4-0000-4000-8000-000000000002'), line({ type: 'Object', data: { q: 1 }, id: 'fae62238-2476-46f9-b671-d2a141d44703' })]))
    const deadline = Date.now() + 5000
    while (got.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    await new Promise((r) => setTimeout(r, 100))
    expect(got).toEqual([{ type: 'Object', data: { q: 1 }, callback_id: 'fae62238-2476-46f9-b671-d2a141d44703' }])
    socket.end()
  })
})
