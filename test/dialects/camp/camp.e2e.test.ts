import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { type ServeProcess, runCli, startServe } from '../../helpers/cli.js'
import { RawWsClient } from '../../helpers/raw-ws.js'
import { tempDir } from '../../helpers/tmp.js'
import { FIXTURES, loggedFrames } from './transcript.js'

/**
 * stmpcat as a CAMP server (serve --dialect camp --token T) through the built CLI: fetch, push,
 * connect and bench through the dialect, and raw WebSocket clients (the `ws` library, real
 * sockets) sending the very frames of the real CAMP client (fixtures/camp.log) to check, byte for
 * byte, what the server answers. Then decode of the real server's capture.
 */

/** A raw CAMP client: the server's binary messages as hex, in order. */
class RawClient extends RawWsClient {
  static async open(url: string, query: string, protocols: string[] = ['camp']): Promise<RawClient> {
    const client = new RawClient(new WebSocket(`${url}?${query}`, protocols))
    await client.opened()
    return client
  }

  send(hex: Buffer | string): void { this.ws.send(typeof hex === 'string' ? Buffer.from(hex, 'hex') : hex) }

  async messages(n: number): Promise<string[]> {
    return (await this.frames(n)).map((b) => b.toString('hex'))
  }
}

const SID_QUERY = 'authorization=Bearer%20T&x-CAMP-sid=72623859790382856'
const frames = (serve: ServeProcess) => serve.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === 'frame')
const hex = (text: string) => Buffer.from(text).toString('hex')

describe('serve --dialect camp --token T (echo)', () => {
  let serve: ServeProcess
  let url: string

  beforeAll(async () => {
    serve = await startServe(['--dialect', 'camp', '--token', 'T', 'ws://127.0.0.1:0/', '--log'])
    url = serve.urls[0]
  }, 30_000)
  afterAll(async () => { await serve?.stop() })

  it('fetch with the token: 200 (the ACK); the server saw the data frame as a request and echoed it', async () => {
    const r = await runCli(['fetch', '--dialect', 'camp', '--token', 'T', url, 'utf8', '{"x":1}', '--json'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 200, action: 'utf8' })
    const seen = frames(serve)
    expect(seen.find((f) => f.kind === 'request' && f.direction === 'in')).toMatchObject({ action: 'utf8', payload: { x: 1 } })
    expect(seen.find((f) => f.kind === 'push' && f.direction === 'out')).toMatchObject({ action: 'utf8', payload: { x: 1 } })
  })

  it('a wrong token, or none: 401 from the server, HANDSHAKE_REFUSED, exit 3', async () => {
    const bad = await runCli(['fetch', '--dialect', 'camp', '--token', 'nope', url, 'utf8', '{}'])
    expect(bad.code).toBe(3)
    expect(bad.stderr).toMatch(/HANDSHAKE_REFUSED: handshake refused: 401 .*invalid bearer token/)
    const none = await runCli(['connect', '--dialect', 'camp', url], { stdin: '{"action":"utf8","payload":1}\n' })
    expect(none.code).toBe(3)
    expect(JSON.parse(none.stdout)).toMatchObject({ error: { code: 'HANDSHAKE_REFUSED', status: 401 } })
  })

  it('push and connect: data frames both ways; every request 200, every echo a push', async () => {
    const p = await runCli(['push', '--dialect', 'camp', '--token', 'T', url, 'news', '{"n":1}'])
    expect(p.code).toBe(0)
    const c = await runCli(['connect', '--dialect', 'camp', '--token', 'T', url], { stdin: '{"action":"utf8","payload":{"a":1}}\n{"action":"binary","payload":{"b":2}}\n' })
    expect(c.code).toBe(0)
    const lines = c.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.filter((l) => l.status === 200)).toHaveLength(2)
    expect(lines.filter((l) => l.kind === 'push').map((l) => [l.action, l.payload])).toEqual([['utf8', { a: 1 }], ['binary', { b: 2 }]])
  })

  it('push --file sends the file as a transaction named ACTION: TX_START with its size, 64 KiB chunks at true offsets, TX_FINISH', async () => {
    const file = join(tempDir(), 'blob.bin')
    writeFileSync(file, Buffer.alloc(150_000, 7))
    const r = await runCli(['push', '--dialect', 'camp', '--token', 'T', url, 'blob', '--file', file])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const tx = frames(serve).filter((f) => String(f.kind).startsWith('tx-') && f.direction === 'in')
    expect(tx.map((f) => [f.kind, f.offset ?? f.size ?? '', f.length ?? f.name ?? ''])).toEqual([
      ['tx-start', 150_000, 'blob'], ['tx-chunk', 0, 65_536], ['tx-chunk', 65_536, 65_536], ['tx-chunk', 131_072, 18_928], ['tx-finish', '', ''],
    ])
    const nope = await runCli(['push', url, 'blob', '--file', file])
    expect(nope.code).toBe(2)
    expect(nope.stderr).toMatch(/BAD_FLAG: --file: STMP v3 has no transactions/)
  })

  it('the real client\'s frames (camp.log) get the real server\'s answers, byte for byte', async () => {
    const log = loggedFrames()
    const fromClient = log.filter((f) => f.from === 'client' && f.opcode === 'binary').map((f) => f.bytes.toString('hex'))
    const fromServer = log.filter((f) => f.from === 'server' && f.opcode === 'binary').map((f) => f.bytes.toString('hex'))
    const raw = await RawClient.open(url, SID_QUERY)
    // ENDPOINT_INFO first, with the client's sid.
    expect((await raw.messages(1))[0]).toBe(fromServer[0])
    raw.send(fromClient[0]) // ACK 0
    raw.send(fromClient[1]) // its ENDPOINT_INFO
    expect((await raw.messages(2))[1]).toBe(fromServer[1]) // ACK 0
    raw.send(fromClient[2]) // UTF8DATA ack 1 "hello camp"
    const got = await raw.messages(4)
    expect(got[2]).toBe(fromServer[3]) // ACK 1
    expect(got[3]).toBe(`0102030405060708fa00000001${hex('hello camp')}`) // the echo, the server's ack 1
    raw.send(`0102030405060708fd00000001`)
    raw.send('0102030405060708fb70696e67') // ping
    expect((await raw.messages(5))[4]).toBe(`0102030405060708fb${hex('pong')}`)
    raw.send(fromClient.at(-1) as string) // BYE ack 2 "done"
    expect((await raw.messages(6))[5]).toBe(fromServer.at(-1)) // ACK 2
    expect(await raw.close()).toEqual({ code: 4000, reason: 'done' })
  })

  it('an upgrade without a sid is 401; a client of another CAMP version is closed with 4001, transactions it did not announce with 4002', async () => {
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${url}?authorization=Bearer%20T`, ['camp'])
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate() })
      ws.on('error', () => undefined)
    })
    expect(refused).toBe(401)
    const v2 = await RawClient.open(url, SID_QUERY.replace('72623859790382856', '5'))
    await v2.messages(1)
    v2.send('0000000000000005ff00000000000000020000000000000001')
    expect((await v2.close()).code).toBe(4001)
    const noTx = await RawClient.open(url, SID_QUERY.replace('72623859790382856', '6'))
    await noTx.messages(1)
    noTx.send('0000000000000006ff00000000000000010000000000000000')
    noTx.send(`000000000000000600000000010000000000000000000000000000${hex('x')}`)
    const closed = await noTx.close()
    expect(closed.code).toBe(4002)
    // A garbage frame is a protocol error of the client: 4001, the reason names the code.
    const junk = await RawClient.open(url, SID_QUERY.replace('72623859790382856', '7'))
    await junk.messages(1)
    junk.send('0102')
    expect(await junk.close()).toMatchObject({ code: 4001, reason: expect.stringMatching(/^SHORT_FRAME/) })
  })

  it('a transaction from a client that announced them is acknowledged (TX_START, TX_FINISH; not the chunks)', async () => {
    const raw = await RawClient.open(url, SID_QUERY.replace('72623859790382856', '8'))
    await raw.messages(1)
    const sid = '0000000000000008'
    raw.send(`${sid}ff00000000000000010000000000000001`)
    raw.send(`${sid}0000000001000000070000000000000005${'00'}${hex('f.txt')}`) // TX_START ack 1, tx 7, size 5, push
    raw.send(`${sid}01000000070000000000000000${hex('abc')}`)
    raw.send(`${sid}01000000070000000000000003${hex('de')}`)
    raw.send(`${sid}020000000200000007`) // TX_FINISH ack 2
    const got = await raw.messages(4)
    expect(got.slice(1)).toEqual([`${sid}fd00000000`, `${sid}fd00000001`, `${sid}fd00000002`])
    raw.ws.close()
  })
})

describe('serve --dialect camp --log -O ack-timeout=200: the dialect\'s events', () => {
  let serve: ServeProcess
  let url: string

  beforeAll(async () => {
    serve = await startServe(['--dialect', 'camp', 'ws://127.0.0.1:0/', '--log', '-O', 'ack-timeout=200'])
    url = serve.urls[0]
  }, 30_000)
  afterAll(async () => { await serve?.stop() })

  it('the client\'s ENDPOINT_INFO, and the echo a raw client never acknowledges as ack-timeout (CAMP\'s stat-ack-timeout)', async () => {
    const raw = await RawClient.open(url, 'authorization=Bearer%20x&x-CAMP-sid=11')
    await raw.messages(1)
    raw.send('000000000000000bff00000000000000010000000000000001')
    raw.send(`000000000000000bfa00000001${hex('"ping me"')}`)
    await raw.messages(4)
    // Neither the ENDPOINT_INFO (ack 0) nor the echo (ack 1) is acknowledged by this client.
    await new Promise((r) => setTimeout(r, 600))
    raw.ws.close()
    const events = serve.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === 'dialect')
    expect(events).toContainEqual(expect.objectContaining({ name: 'endpoint-info', version: 1, flags: 1, transactions: true }))
    const timeouts = events.filter((e) => e.name === 'ack-timeout')
    expect(timeouts.map((e) => [e.ack, e.kind])).toEqual([[0, 'endpoint-info'], [1, 'utf8']])
    expect(timeouts.at(-1)).toMatchObject({ count: 2 })
  })
})

describe('serve --dialect camp: keepalive pings, bench', () => {
  let serve: ServeProcess
  let url: string

  beforeAll(async () => {
    serve = await startServe(['--dialect', 'camp', 'ws://127.0.0.1:0/', '--keepalive', '200ms'])
    url = serve.urls[0]
  }, 30_000)
  afterAll(async () => { await serve?.stop() })

  it('the server pings ("ping") every --keepalive; a raw client that answers "pong" stays', async () => {
    const raw = await RawClient.open(url, 'authorization=Bearer%20any&x-CAMP-sid=9')
    raw.ws.on('message', (b: Buffer) => { if (b[8] === 0xfb) raw.send('0000000000000009fb706f6e67') })
    await new Promise((r) => setTimeout(r, 700))
    const pings = raw.received.filter((b) => b[8] === 0xfb && b.subarray(9).toString() === 'ping')
    expect(pings.length).toBeGreaterThanOrEqual(2)
    expect(raw.closed).toBeUndefined()
    raw.ws.close()
  })

  it('bench -d 1s measures the ACK round trip with 0 errors', async () => {
    const r = await runCli(['bench', '--dialect', 'camp', url, '-d', '1s', '-c', '4', '--json'])
    expect(r.code).toBe(0)
    const report = JSON.parse(r.stdout) as { settings: { dialect: string }; totals: { sent: number; ok: number; errors: number; timedOut: number }; errors: { rate: number } }
    expect(report.settings.dialect).toBe('camp')
    expect(report.totals.sent).toBeGreaterThan(100)
    expect(report.totals.ok).toBe(report.totals.sent)
    expect(report.totals.errors).toBe(0)
    expect(report.totals.timedOut).toBe(0)
    expect(report.errors.rate).toBe(0)
  }, 30_000)
})

describe('decode of the real CAMP server\'s capture', () => {
  const pcap = join(FIXTURES, 'camp-echo.pcap')

  it('--dialect camp: each of the 14 frames once and the two close frames, no error line, exit 0', async () => {
    const r = await runCli(['decode', '--dialect', 'camp', pcap, '--json'])
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.map((l) => `${l.direction}:${l.kind}`)).toEqual([
      'server:endpoint-info', 'client:ack', 'client:endpoint-info', 'server:ack', 'client:utf8', 'client:binary',
      'server:ack', 'server:ack', 'server:utf8', 'server:binary', 'client:ack', 'client:ack', 'client:bye', 'server:ack',
      // The WebSocket close handshake after BYE: 4000 both ways.
      'server:ws-close', 'client:ws-close',
    ])
    expect(lines[14]).toMatchObject({ code: 4000, reason: 'done' })
    expect(lines.some((l) => 'error' in l)).toBe(false)
    expect(lines[4]).toMatchObject({ sid: '0102030405060708', ack: 1, payload_text: 'hi from client' })
    expect(lines[5]).toMatchObject({ ack: 2, payload_hex: 'deadbeef' })
    expect(lines[12]).toMatchObject({ ack: 3, reason: 'done' })
    expect(r.stderr).toMatch(/camp \(--dialect\)/)
    expect(r.stderr).toMatch(/16 frames, 0 errors/)
  })

  it('--port 5131=camp names it by port; the text table prints one line per frame', async () => {
    const r = await runCli(['decode', '--port', '5131=camp', pcap])
    expect(r.code).toBe(0)
    expect(r.stdout.trim().split('\n')).toHaveLength(16)
    expect(r.stdout).toMatch(/-> utf8 sid="0102030405060708" ack=1 payload_text="hi from client"/)
  })

  it('with no flag: sniffed as camp among every dialect, the same frames, named in the summary', async () => {
    const r = await runCli(['decode', pcap, '--json'])
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toHaveLength(16)
    expect(lines.every((l) => l.dialect === 'camp' && !('error' in l))).toBe(true)
    expect(r.stderr).toMatch(/1 connection \(0 STMP: 0 stream, 0 websocket; 1 camp; 0 skipped\), 16 frames/)
  })
})
