import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { join } from 'node:path'
import type { AddressInfo, Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type WebSocket, WebSocketServer } from 'ws'
import { connect } from '../../../src/lib/session/index.js'
import { runCli } from '../../helpers/cli.js'
import { tempDir } from '../../helpers/tmp.js'

/**
 * stmpcat as a CAMP client (fetch, push, connect through the built CLI; the Session for events)
 * against a peer on a real socket that answers as the real CAMP server did in fixtures/camp.log:
 * 401 (an HTML page) for a bad upgrade, ENDPOINT_INFO first, an ACK for every frame that needs
 * one, "hi from server" UTF8DATA, BINARYDATA 010203 and the push transaction "blob" with the
 * off-by-one chunk offsets once the client's ENDPOINT_INFO came, data echoed back, "ping" ->
 * expects "pong", "ping" from the client answered "pong", BYE -> ACK and close 4000 with its
 * reason. The peer builds and reads frames with its own few lines (not stmpcat's codec).
 */
interface Seen { sid: string; frames: Buffer[]; close?: { code: number; reason: string } }
const conns: Seen[] = []
let http: Server
let url: string

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b }
const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return b }

function campPeer(ws: WebSocket, sid: bigint, seen: Seen, txName = 'blob'): void {
  const head = (type: number) => Buffer.concat([u64(sid), Buffer.from([type])])
  let ack = 0
  const send = (type: number, ...rest: Buffer[]) => ws.send(Buffer.concat([head(type), ...rest]))
  const ackOf = (n: number) => send(0xfd, u32(n))
  // CAMP-Server: ENDPOINT_INFO right after the upgrade (ack 0, version 1, flags 1).
  send(0xff, u32(ack++), u32(1), u64(1n))
  ws.on('message', (data: Buffer) => {
    seen.frames.push(data)
    const type = data[8]
    const n = data.length >= 13 ? data.readUInt32BE(9) : 0
    const text = data.subarray(13).toString('utf8')
    if (type === 0xfb) {
      if (data.subarray(9).toString() === 'ping') send(0xfb, Buffer.from('pong'))
      return
    }
    if (type === 0xfd) return
    if (type === 0xff) {
      ackOf(n)
      // The app's 'connected' handler of the recorded run: text, bytes, a push transaction, a ping.
      send(0xfa, u32(ack++), Buffer.from('hi from server'))
      send(0xf9, u32(ack++), Buffer.from([1, 2, 3]))
      send(0x00, u32(ack++), u32(0), Buffer.from('ffffffffffffffff', 'hex'), Buffer.from([0]), Buffer.from(txName))
      send(0x01, u32(0), u64(0n), Buffer.from('abc'))
      send(0x01, u32(0), u64(4n), Buffer.from('de'))
      send(0x02, u32(ack++), u32(0))
      send(0xfb, Buffer.from('ping'))
      return
    }
    if (type === 0xfe) {
      ackOf(n)
      ws.close(4000, text)
      return
    }
    if (type === 0xfa && text === '"noack"') return
    if (type === 0xfa && text === '"error"') {
      ackOf(n)
      send(0xfc, u32(ack++), Buffer.from('the app failed'))
      return
    }
    ackOf(n)
    // Echo, as the recorded server's app did.
    if (type === 0xfa || type === 0xf9) send(type, u32(ack++), data.subarray(13))
  })
  ws.on('close', (code: number, reason: Buffer) => { seen.close = { code, reason: reason.toString() } })
}

function deny(socket: Socket, message: string): void {
  const body = `<html><body><h1>401 Unauthorized</h1><p>${message}</p></body></html>`
  socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
}

beforeAll(async () => {
  const wss = new WebSocketServer({ noServer: true })
  http = createServer()
  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const q = new URL(req.url ?? '/', 'ws://x').searchParams
    const auth = q.get('authorization')
    const sid = q.get('x-CAMP-sid')
    if (auth === null || !auth.startsWith('Bearer') || sid === null) return deny(socket, 'No auth data supplied.')
    if (auth.slice(7) !== 'tok') return deny(socket, 'Invalid bearer token in authorization query.')
    wss.handleUpgrade(req, socket, head, (ws) => {
      const seen: Seen = { sid, frames: [] }
      conns.push(seen)
      // ?txname=NAME: the transaction the peer sends is named so (blob by default).
      campPeer(ws, BigInt(sid), seen, q.get('txname') ?? undefined)
    })
  })
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()))
  url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/`
})
afterAll(async () => {
  http.closeAllConnections()
  await new Promise<void>((r) => http.close(() => r()))
})

const kinds = (s: Seen) => s.frames.map((f) => f[8].toString(16))
async function closedConn(i: number): Promise<Seen> {
  for (let t = 0; t < 60 && conns[i]?.close === undefined; t++) await new Promise((r) => setTimeout(r, 50))
  return conns[i]
}

describe('stmpcat as a CAMP client', () => {
  it('fetch: one UTF8DATA frame whose ACK is the 200 response; the sid of the upgrade in every frame; BYE, then close 4000', async () => {
    const before = conns.length
    const r = await runCli(['fetch', '--dialect', 'camp', '--token', 'tok', '-O', 'sid=72623859790382856', url, 'utf8', '{"x":1}', '--json'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 200, action: 'utf8' })
    const seen = await closedConn(before)
    expect(seen.sid).toBe('72623859790382856')
    for (const f of seen.frames) expect(f.subarray(0, 8).toString('hex')).toBe('0102030405060708')
    // Its ENDPOINT_INFO (ack 0, version 1, flags 1), the data frame with ack 1 and the payload, BYE with ack 2.
    expect(seen.frames.find((f) => f[8] === 0xff)?.subarray(8).toString('hex')).toBe('ff00000000000000010000000000000001')
    expect(seen.frames.find((f) => f[8] === 0xfa)?.subarray(8).toString('hex')).toBe(`fa00000001${Buffer.from('{"x":1}').toString('hex')}`)
    // (ACKs of the peer's frames may cross the BYE: the echo of the data frame comes behind it.)
    expect(seen.frames.filter((f) => f[8] !== 0xfd).at(-1)?.subarray(8).toString('hex')).toBe(`fe00000002${Buffer.from('disconnect').toString('hex')}`)
    expect(seen.close).toEqual({ code: 4000, reason: 'disconnect' })
  })

  it('fetch -t raw sends BINARYDATA; a payload the peer never acknowledges is 504 after -O ack-timeout (exit 7)', async () => {
    const before = conns.length
    const bin = await runCli(['fetch', '--dialect', 'camp', '--token', 'tok', url, 'data', 'abc', '-t', 'raw'])
    expect(bin.code).toBe(0)
    expect((await closedConn(before)).frames.find((f) => f[8] === 0xf9)?.subarray(13).toString()).toBe('abc')
    const started = Date.now()
    const lost = await runCli(['fetch', '--dialect', 'camp', '--token', 'tok', '-O', 'ack-timeout=300', url, 'utf8', '"noack"'])
    expect(lost.code).toBe(7)
    expect(lost.stderr).toMatch(/504/)
    expect(lost.stderr).toMatch(/no ACK within 300 ms/)
    expect(Date.now() - started).toBeLessThan(8000)
  })

  it('fetch --wait-reply: after the ACK the next data frame is printed (the echo, not the frames the peer sent before the ACK); --json has it as reply', async () => {
    const r = await runCli(['fetch', '--dialect', 'camp', '--token', 'tok', url, 'utf8', '{"back":1}', '--wait-reply'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('{"back":1}\n')
    const bin = await runCli(['fetch', '--dialect', 'camp', '--token', 'tok', url, 'binary', 'xyz', '-t', 'raw', '--wait-reply', '--json', '-i'])
    expect(bin.code).toBe(0)
    expect(bin.stderr).toMatch(/^< 200 OK .*\n< reply binary 3 bytes\n$/)
    expect(JSON.parse(bin.stdout)).toMatchObject({ status: 200, payload: null, reply: { action: 'binary' } })
  })

  it('fetch --wait-reply: no data frame after the ACK is TIMEOUT, exit 4; without acks (stmp-v3) the flag is BAD_FLAG, exit 2', async () => {
    // "error": the peer acknowledges and answers with an ERROR frame, never a data frame.
    const started = Date.now()
    const r = await runCli(['fetch', '--dialect', 'camp', '--token', 'tok', url, 'utf8', '"error"', '--wait-reply', '--timeout', '600ms'])
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/TIMEOUT: no data frame from the server within 600 ms/)
    expect(Date.now() - started).toBeLessThan(8000)
    const v3 = await runCli(['fetch', url.replace('ws:', 'tcp:'), 'test.echo', '{}', '--wait-reply'])
    expect(v3.code).toBe(2)
    expect(v3.stderr).toMatch(/BAD_FLAG: --wait-reply: STMP v3 answers requests itself/)
  })

  it('a wrong token: the peer\'s 401 is HANDSHAKE_REFUSED, exit 3', async () => {
    const r = await runCli(['fetch', '--dialect', 'camp', '--token', 'nope', url, 'utf8', '{}'])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/HANDSHAKE_REFUSED/)
    expect(r.stderr).toMatch(/401/)
    const json = await runCli(['push', '--dialect', 'camp', url, 'utf8', '{}', '--json'])
    expect(json.code).toBe(3)
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'HANDSHAKE_REFUSED', status: 401 } })
  })

  it('push: the data frame goes out and is acknowledged before the BYE; the echo comes back', async () => {
    const before = conns.length
    const r = await runCli(['push', '--dialect', 'camp', '--token', 'tok', url, 'news', '{"n":1}'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const seen = await closedConn(before)
    const data = seen.frames.filter((f) => f[8] === 0xfa)
    expect(data.map((f) => f.subarray(13).toString())).toEqual(['{"n":1}'])
    // The BYE follows the data frame; the echo that crossed it is still acknowledged (ACK after BYE).
    const k = kinds(seen)
    expect(k.indexOf('fe')).toBeGreaterThan(k.indexOf('fa'))
    expect(seen.frames.filter((f) => f[8] === 0xfd).map((f) => f.readUInt32BE(9))).toContain(1)
  })

  it('connect (NDJSON): the server\'s data frames and its finished transaction are pushes; each request a 200', async () => {
    const before = conns.length
    const r = await runCli(['connect', '--dialect', 'camp', '--token', 'tok', url], { stdin: '{"action":"utf8","payload":{"a":1}}\n' })
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toContainEqual(expect.objectContaining({ kind: 'push', action: 'utf8', payload: 'hi from server' }))
    expect(lines).toContainEqual(expect.objectContaining({ kind: 'push', action: 'tx:blob', payload: 'abcde' }))
    expect(lines).toContainEqual(expect.objectContaining({ kind: 'push', action: 'utf8', payload: { a: 1 } }))
    expect(lines.filter((l) => l.status === 200)).toHaveLength(1)
    // Every frame of the peer that needs an ACK got one (0..5: its ENDPOINT_INFO right behind the
    // 101, text, bytes, tx-start, tx-finish, the echo), the ping a pong.
    const seen = await closedConn(before)
    const acked = seen.frames.filter((f) => f[8] === 0xfd).map((f) => f.readUInt32BE(9))
    expect(acked.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5])
    // And the pipe printed it: the events replayed before the session attached reach its handlers.
    expect(lines).toContainEqual({ kind: 'event', event: 'endpoint-info', version: 1, flags: 1, transactions: true })
    expect(seen.frames.some((f) => f[8] === 0xfb && f.subarray(9).toString() === 'pong')).toBe(true)
  })
})

describe('connect --save-dir and transaction progress', () => {
  it('the pipe: the server\'s transaction is written to DIR/blob as its bytes in order (the off-by-one offsets written as received), events tx-saved', async () => {
    const dir = tempDir('camp-save-')
    const r = await runCli(['connect', '--dialect', 'camp', '--token', 'tok', url, '--save-dir', dir, '--wait', '300ms'], { stdin: '' })
    expect(r.code).toBe(0)
    expect(readFileSync(join(dir, 'blob'), 'utf8')).toBe('abcde')
    const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toContainEqual({ kind: 'event', event: 'tx-saved', txId: 0, name: 'blob', path: join(dir, 'blob'), bytes: 5 })
    expect(lines).toContainEqual(expect.objectContaining({ kind: 'event', event: 'tx-chunk', offset: 4, quirk: 'off-by-one' }))
  })

  it('a name with .. or / is refused with the coded event tx-refused (BAD_TX_NAME); nothing is written outside DIR or inside it', async () => {
    const root = tempDir('camp-save-')
    for (const name of ['../evil', 'a/b', '..']) {
      const r = await runCli(['connect', '--dialect', 'camp', '--token', 'tok', `${url}?txname=${encodeURIComponent(name)}`, '--save-dir', root, '--wait', '300ms'], { stdin: '' })
      expect(r.code).toBe(0)
      const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(lines).toContainEqual(expect.objectContaining({ kind: 'event', event: 'tx-refused', txId: 0, name, code: 'BAD_TX_NAME' }))
      expect(lines.some((l) => l.event === 'tx-saved')).toBe(false)
      // Still received: the push of the whole transaction is there.
      expect(lines).toContainEqual(expect.objectContaining({ kind: 'push', action: `tx:${name}`, payload: 'abcde' }))
    }
    expect(readdirSync(root)).toEqual([])
    expect(existsSync(join(root, '..', 'evil'))).toBe(false)
  })

  it('--save-dir: not a directory, or a dialect without transactions, is BAD_FLAG (exit 2) before dialling', async () => {
    const missing = await runCli(['connect', '--dialect', 'camp', url, '--save-dir', '/nonexistent/dir'], { stdin: '' })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/BAD_FLAG: --save-dir \/nonexistent\/dir: not a directory/)
    const v3 = await runCli(['connect', 'tcp://127.0.0.1:1', '--save-dir', tempDir('camp-save-')], { stdin: '' })
    expect(v3.code).toBe(2)
    expect(v3.stderr).toMatch(/BAD_FLAG: --save-dir: STMP v3 has no transactions/)
  })

  it('the prompt (--interactive): a progress line per transaction step, then finished and saved', async () => {
    const dir = tempDir('camp-save-')
    const r = await runCli(['connect', '--interactive', '--dialect', 'camp', '--token', 'tok', url, '--save-dir', dir], { stdin: 'utf8 {"a":1}\n', timeout: 15_000 })
    const out = r.stdout + r.stderr
    expect(out).toMatch(/⇠ transaction 0 blob: started, size unknown/)
    expect(out).toMatch(/⇠ transaction 0 blob: finished, 5 B in 2 chunks \(1 at CAMP-Server's off-by-one offsets\)/)
    expect(out).toMatch(new RegExp(`⇠ transaction 0 blob: saved to ${join(dir, 'blob').replace(/[/.]/g, '\\$&')}`))
    expect(readFileSync(join(dir, 'blob'), 'utf8')).toBe('abcde')
  })
})

describe('the Session on a CAMP connection (events)', () => {
  it('the transaction with its off-by-one chunk, ERROR as an event, ping RTT, our BYE answered by close 4000 = 1000', async () => {
    const events: [string, Record<string, unknown>][] = []
    const session = await connect(url, { dialect: 'camp', token: 'tok', prepare: (s) => { s.onEvent = (name, data) => events.push([name, data]) } })
    const pushes: string[] = []
    session.onPush = (p) => pushes.push(`${p.action}:${p.payload.toString()}`)
    const rtt = await session.ping()
    expect(rtt).toBeGreaterThan(0)
    const res = await session.request('utf8', Buffer.from('"error"'))
    expect(res.status).toBe(200)
    for (let t = 0; t < 40 && !events.some(([n]) => n === 'error'); t++) await new Promise((r) => setTimeout(r, 25))
    const named = (n: string) => events.filter(([e]) => e === n).map(([, d]) => d)
    expect(named('tx-start')).toEqual([{ txId: 0, name: 'blob', size: -1, behaviour: 'push' }])
    expect(named('tx-chunk')).toEqual([
      { txId: 0, name: 'blob', offset: 0, length: 3, received: 3 },
      { txId: 0, name: 'blob', offset: 4, length: 2, received: 5, quirk: 'off-by-one' },
    ])
    expect(named('tx-finish')).toEqual([{ txId: 0, name: 'blob', bytes: 5, chunks: 2, offByOne: 1, misplaced: 0, kept: true }])
    expect(named('error')).toEqual([{ message: 'the app failed', ack: 5 }])
    expect(pushes).toEqual(['utf8:hi from server', 'binary:\u0001\u0002\u0003', 'tx:blob:abcde'])
    const info = await session.close(1000, 'done')
    expect(info).toMatchObject({ code: 1000, initiator: 'local', remoteCode: 1000, remoteReason: 'done' })
  })
})
