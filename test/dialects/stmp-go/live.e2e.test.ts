import { writeFileSync } from 'node:fs'
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, spawnCli, startServe, type ServeProcess } from '../../helpers/cli.js'
import { testCertificate } from '../../helpers/tls.js'
import { tempDir } from '../../helpers/tmp.js'
import { type Packet, PacketStream, decodeHandshake } from '../../../src/lib/dialects/stmp-go/codec.js'
import { streamBytes } from './transcript.js'

/**
 * stmpcat's stmp-go client and server sides talking to each other over every transport (the
 * built CLI as child processes, real sockets), and the client against a peer that answers with
 * the real stmp-go server's bytes (stmp_tcp.log) and its quirks.
 */
let serve: ServeProcess
let guarded: ServeProcess
let tcp: string, ws: string, unix: string, tls: string, wss: string, wsText: string
let dir: string

beforeAll(async () => {
  dir = tempDir('stmpgo-live')
  const cert = testCertificate(dir)
  const routes = join(dir, 'routes.yaml')
  writeFileSync(routes, [
    '"0x1234":', '  reply: "{{payload}}"',
    // As in stmpgo-tcp-notify-fail.pcap: a Notify 0x99 first, then the answer.
    '"0x1235":', '  push: { action: "0x99", payload: "{{payload}}" }', '  reply: "{{payload}}"',
    '"0x1236":', '  status: 400', '  reply: "nope"',
    // As the real server of stmp_tcp.log answers 0x1234: with a packet header.
    '"0x1237":', '  reply: "{{payload}}"', '  headers: { X-Echo: "yes", X-Action: "{{action}}" }',
    'stmpcat.peer.Echo.Echo:', '  reply: "{{payload}}"',
    'whoami:', '  reply: { trace: "{{headers.x-trace}}" }',
    'room.join:', '  join: "{{payload.room}}"', '  reply: { joined: "{{payload.room}}" }',
    'room.say:', '  broadcast: { to: "room:{{payload.room}}", action: "0x99", payload: "{{payload}}", exceptSender: true }', '  reply: { said: true }',
    '',
  ].join('\n'))
  serve = await startServe(['--dialect', 'stmp-go', 'tcp://127.0.0.1:0', 'ws://127.0.0.1:0/stmp', `unix:${join(dir, 'sg.sock')}`, 'tls://127.0.0.1:0', 'wss://127.0.0.1:0/stmp',
    '--cert', cert.certFile, '--key', cert.keyFile, '--routes', routes, '--log'], 5)
  ;[tcp, ws, unix, tls, wss] = serve.urls
  wsText = ws
  guarded = await startServe(['--dialect', 'stmp-go', 'tcp://127.0.0.1:0', 'ws://127.0.0.1:0/stmp', '--token', 's3cret'], 2)
}, 60_000)

afterAll(async () => {
  await serve?.stop()
  await guarded?.stop()
})

describe('stmpcat serve --dialect stmp-go with fetch, push and connect', { timeout: 120_000 }, () => {
  it('fetch over tcp, unix, tls, ws binary, ws text and wss: the echoed payload, exit 0', async () => {
    const body = '{"x":1}'
    const runs = await Promise.all([
      runCli(['fetch', '--dialect', 'stmp-go', tcp, 'stmpcat.peer.Echo.Echo', body]),
      runCli(['fetch', '--dialect', 'stmp-go', unix, 'stmpcat.peer.Echo.Echo', body]),
      runCli(['fetch', '--dialect', 'stmp-go', tls, 'stmpcat.peer.Echo.Echo', body, '-k']),
      runCli(['fetch', '--dialect', 'stmp-go', ws, 'stmpcat.peer.Echo.Echo', body]),
      runCli(['fetch', '--dialect', 'stmp-go', wsText, 'stmpcat.peer.Echo.Echo', body, '--format', 'text']),
      runCli(['fetch', '--dialect', 'stmp-go', wss, 'stmpcat.peer.Echo.Echo', body, '-k']),
      runCli(['fetch', '--dialect', 'stmp-go', wss, 'stmpcat.peer.Echo.Echo', body, '-k', '--format', 'text']),
    ])
    for (const r of runs) {
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout)).toEqual({ x: 1 })
    }
  })

  it('gzip (-O gzip=1) on tcp, unix and tls: both directions one gzip stream, the answer intact', async () => {
    const big = JSON.stringify({ text: 'stmp-go '.repeat(2000) })
    const runs = await Promise.all([tcp, unix, tls].map((url) => runCli(['fetch', '--dialect', 'stmp-go', url, '0x1234', big, '-O', 'gzip=1', '-k', '-v'])))
    for (const r of runs) {
      expect(r.code).toBe(0)
      expect(r.stdout.trim()).toBe(big)
      expect(r.stderr).toContain('"Accept-Encoding":"gzip"')
      expect(r.stderr).toContain('"Content-Encoding":"gzip"')
    }
  })

  it('msgpack on tcp and ws: the payload goes as MessagePack, the answer prints as JSON', async () => {
    for (const url of [tcp, ws]) {
      const r = await runCli(['fetch', '--dialect', 'stmp-go', url, '0x1234', '{"x":1}', '-t', 'msgpack', '-v'])
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout)).toEqual({ x: 1 })
      expect(r.stderr).toContain('"Content-Type":"application/msgpack"')
      // The server's handshake headers are its answer (<), never lines of what was sent (>).
      expect(r.stderr).not.toMatch(/^> Content-Type/m)
    }
  })

  it('a route\'s headers: go on its responses as packet headers (-v, --json responseHeaders), binary and text', async () => {
    const v = await runCli(['fetch', '--dialect', 'stmp-go', tcp, '0x1237', '{"x":1}', '-v'])
    expect(v.code).toBe(0)
    expect(v.stderr).toMatch(/< response id=1 200 OK[^\n]*\n< X-Echo: yes\n< X-Action: 0x1237/)
    const j = await runCli(['fetch', '--dialect', 'stmp-go', wsText, '0x1237', '{"x":1}', '--format', 'text', '--json'])
    expect(j.code).toBe(0)
    expect(JSON.parse(j.stdout)).toMatchObject({ payload: { x: 1 }, responseHeaders: { 'X-Echo': 'yes', 'X-Action': '0x1237' } })
  })

  it('a status from the server: 0x20 BadRequest is 400, exit 6, with its message', async () => {
    const r = await runCli(['fetch', '--dialect', 'stmp-go', tcp, '0x1236', '{"x":1}'])
    expect(r.code).toBe(6)
    expect(r.stderr).toContain('400 Bad Request: nope')
    const t = await runCli(['fetch', '--dialect', 'stmp-go', wsText, '0x1236', '{"x":1}', '--format', 'text'])
    expect(t.code).toBe(6)
    expect(t.stderr).toContain('nope')
  })

  it('push over tcp and ws exits 0 and the server gets a Notify', async () => {
    for (const url of [tcp, ws]) {
      const p = await runCli(['push', '--dialect', 'stmp-go', url, '0x99', '{"n":1}'])
      expect(p.stderr).toBe('')
      expect(p.code).toBe(0)
    }
    await new Promise((r) => setTimeout(r, 200))
    expect(serve.stderr() + serve.stdout()).toMatch(/0x99/)
  })

  it('connect in a pipe over tcp and ws text: one answer line per request line (a 400 among them: exit 6)', async () => {
    for (const [url, extra] of [[tcp, []], [wsText, ['--format', 'text']]] as const) {
      const c = await runCli(['connect', '--dialect', 'stmp-go', url, ...extra], { stdin: '{"action":"0x1234","payload":{"q":1}}\n{"action":"0x1236","payload":{}}\n{"action":"stmpcat.peer.Echo.Echo","payload":[1,2]}\n' })
      expect(c.stderr).toBe('')
      expect(c.code).toBe(6)
      const lines = c.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(lines.map((l) => [l.action, l.status, l.payload])).toEqual([['0x1234', 200, { q: 1 }], ['0x1236', 400, 'nope'], ['stmpcat.peer.Echo.Echo', 200, [1, 2]]])
    }
  })

  it('a route\'s push goes before the answer as a Notify: fetch -v shows it, connect prints it as a push line', async () => {
    const f = await runCli(['fetch', '--dialect', 'stmp-go', tcp, '0x1235', '{"n":1}', '-v'])
    expect(f.code).toBe(0)
    expect(f.stderr).toMatch(/< push id=0 0x99[\s\S]*< response id=1 200/)
    const c = await runCli(['connect', '--dialect', 'stmp-go', ws, '--wait', '300ms'], { stdin: '{"action":"0x1235","payload":{"n":2}}\n' })
    expect(c.code).toBe(0)
    const lines = c.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toContainEqual(expect.objectContaining({ kind: 'push', action: '0x99', payload: { n: 2 } }))
  })

  it('-H headers go in the handshake (stream) and the upgrade query (ws); the server\'s routes read them', async () => {
    for (const url of [tcp, ws]) {
      const r = await runCli(['fetch', '--dialect', 'stmp-go', url, 'whoami', '{}', '-H', 'X-Trace:abc', '-v'])
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout)).toEqual({ trace: 'abc' })
      expect(r.stderr).toMatch(url.startsWith('ws') ? /X-Trace=abc/ : /"X-Trace":"abc"/)
    }
  })

  it('rooms: a client that joined gets what another broadcasts to the room, as a Notify (push)', async () => {
    const member = spawnCli(['connect', '--dialect', 'stmp-go', tcp])
    let out = ''
    member.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    member.stdin.write('{"action":"room.join","payload":{"room":"r1"}}\n')
    for (let i = 0; i < 100 && !out.includes('joined'); i++) await new Promise((r) => setTimeout(r, 50))
    const say = await runCli(['fetch', '--dialect', 'stmp-go', ws, 'room.say', '{"room":"r1","text":"hi"}'])
    expect(say.code).toBe(0)
    for (let i = 0; i < 100 && !out.includes('"text":"hi"'); i++) await new Promise((r) => setTimeout(r, 50))
    member.stdin.end()
    await new Promise((r) => member.once('exit', r))
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toContainEqual(expect.objectContaining({ kind: 'push', action: '0x99', payload: { room: 'r1', text: 'hi' } }))
  })

  it('a handler module under the dialect: its output, its ctx.throw status, its conn.push as a Notify', async () => {
    const handler = join(dir, 'handler.mjs')
    writeFileSync(handler, [
      'export default async (ctx) => {',
      "  if (ctx.action === '0x1237') ctx.throw(401, 'who are you')",
      "  ctx.conn.push('0x99', { before: true })",
      "  ctx.output = { got: ctx.input, action: ctx.action, accept: ctx.headers.accept }",
      '}',
      '',
    ].join('\n'))
    const s = await startServe(['--dialect', 'stmp-go', 'tcp://127.0.0.1:0', '--handler', handler])
    try {
      const ok = await runCli(['fetch', '--dialect', 'stmp-go', s.urls[0], '0x1234', '{"a":1}', '-v'])
      expect(ok.code).toBe(0)
      expect(JSON.parse(ok.stdout)).toEqual({ got: { a: 1 }, action: '0x1234', accept: 'application/json' })
      expect(ok.stderr).toContain('< push id=0 0x99')
      const no = await runCli(['fetch', '--dialect', 'stmp-go', s.urls[0], '0x1237', '{}'])
      expect(no.code).toBe(6)
      expect(no.stderr).toContain('401')
      expect(no.stderr).toContain('who are you')
    } finally {
      await s.stop()
    }
  })

  it('-O max-packet: a request over the server\'s limit is answered 413 and the connection closed 1009 (TOO_LARGE); a bad value is BAD_FLAG', async () => {
    const s = await startServe(['--dialect', 'stmp-go', 'tcp://127.0.0.1:0', '-O', 'max-packet=100'])
    try {
      const big = await runCli(['fetch', '--dialect', 'stmp-go', s.urls[0], '0x1234', JSON.stringify('a'.repeat(200))])
      expect(big.code).toBe(5)
      expect(big.stderr).toContain('TOO_LARGE')
      expect(big.stderr).toContain('413')
      const small = await runCli(['fetch', '--dialect', 'stmp-go', s.urls[0], '0x1234', '"small"'])
      expect(small.code).toBe(0)
      await new Promise((r) => setTimeout(r, 200))
      // The server read the echo of its own Close within its limit: one TOO_LARGE line, no second.
      expect(s.stderr().match(/TOO_LARGE/g)?.length).toBe(1)
    } finally {
      await s.stop()
    }
    const bad = await runCli(['fetch', '--dialect', 'stmp-go', tcp, '0x1234', '{}', '-O', 'max-packet=lots'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('BAD_FLAG')
    // The server side checks its -O values before it binds.
    const badServe = await runCli(['serve', '--dialect', 'stmp-go', 'tcp://127.0.0.1:0', '-O', 'gzip=maybe'])
    expect(badServe.code).toBe(2)
    expect(badServe.stderr).toContain('-O gzip=maybe')
    const badHeader = await runCli(['push', '--dialect', 'stmp-go', tcp, '0x1', '{}', '-O', 'packet-header=nocolon'])
    expect(badHeader.code).toBe(2)
  })

  it('--token on the server: a client without it is refused (HANDSHAKE_REFUSED, exit 3, the server\'s message), with it served', async () => {
    const [gtcp, gws] = guarded.urls
    const refused = await runCli(['fetch', '--dialect', 'stmp-go', gtcp, '0x1234', '{}'])
    expect(refused.code).toBe(3)
    expect(refused.stderr).toContain('HANDSHAKE_REFUSED')
    expect(refused.stderr).toContain('missing credentials')
    expect(refused.stderr).toContain('0x21 Unauthorized')
    const bad = await runCli(['fetch', '--dialect', 'stmp-go', gws, '0x1234', '{}', '--token', 'nope'])
    expect(bad.code).toBe(3)
    expect(bad.stderr).toContain('bad credentials')
    for (const url of [gtcp, gws]) {
      const ok = await runCli(['fetch', '--dialect', 'stmp-go', url, '0x1234', '{"ok":1}', '--token', 's3cret'])
      expect(ok.code).toBe(0)
      expect(JSON.parse(ok.stdout)).toEqual({ ok: 1 })
    }
    // The token went in the upgrade's query (as stmp-go's client puts it): serve's log redacts it.
    expect(guarded.stderr()).toMatch(/open \S+ \/stmp\?\S*Authorization=Bearer\+%3Credacted%3E/)
    expect(guarded.stderr()).not.toContain('s3cret')
  })

  it('--token on WebSocket: the refusal is in-band as stmp-go does it (the upgrade completes, the first message is the handshake with status 0x21, then the close)', async () => {
    const { WebSocket } = await import('ws')
    const got = await new Promise<{ upgraded: boolean; messages: Buffer[]; code: number }>((resolve, reject) => {
      const messages: Buffer[] = []
      let upgraded = false
      const socket = new WebSocket(`${guarded.urls[1]}?Accept=application%2Fjson&Stmp-Version=1.0`)
      socket.on('upgrade', () => { upgraded = true })
      socket.on('message', (data: Buffer) => messages.push(data))
      socket.on('close', (code) => resolve({ upgraded, messages, code }))
      socket.on('error', reject)
    })
    expect(got.upgraded).toBe(true)
    expect(got.messages).toHaveLength(1)
    const h = decodeHandshake(got.messages[0], 'server', 1 << 20, 0)
    expect(h?.handshake.status).toBe(0x21)
    expect(h?.handshake.message).toContain('missing credentials')
  })
})

/**
 * A peer that speaks as the real stmp-go server did (its bytes from stmp_tcp.log), and a raw
 * stmp-go client against stmpcat serve.
 */
describe('stmp-go quirks, against the real server\'s bytes', { timeout: 60_000 }, () => {
  const real = streamBytes('stmp_tcp.log', 'server')
  const HANDSHAKE = real.subarray(0, 36)
  /** The Close stmp-go writes when its read fails after the close handshake (stmp_tcp.log). */
  const SECOND_CLOSE = Buffer.concat([Buffer.from([0xd8, 0x02, 0x17]), Buffer.from('read packet header: EOF')])

  async function peer(onData: (socket: Socket, data: Buffer, n: number) => void): Promise<{ server: Server; url: string; got: Buffer[] }> {
    const got: Buffer[] = []
    const server = createServer((socket) => {
      let n = 0
      socket.on('data', (d) => {
        got.push(d)
        onData(socket, d, n++)
      })
      socket.on('error', () => undefined)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    return { server, url: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`, got }
  }

  it('a Notify before the answer, a Response mid 0, and a second Close after the close handshake: fetch gets its answer, exit 0', async () => {
    const p = await peer((socket, d) => {
      if (d.subarray(0, 4).toString() === 'STMP') return void socket.write(HANDSHAKE)
      if (d[0] === 0xa8) {
        // The real server's Notify 0x99, a stray Response mid 0 (what stmp-go sends for a Notify), then the answer.
        socket.write(Buffer.concat([Buffer.from('b89901077b226e223a317d', 'hex'), Buffer.from('c8000022084e6f74466f756e64', 'hex'), Buffer.from([0xcc, d[1], d[2]]), Buffer.from('000a582d4563686f3a796573077b2278223a317d', 'hex')]))
      }
      if (d[0] === 0xd8) {
        // The echo of the Close, and a second Close into the closing connection.
        socket.write(Buffer.from('d80003627965', 'hex'))
        socket.end(SECOND_CLOSE)
      }
    })
    const r = await runCli(['fetch', '--dialect', 'stmp-go', p.url, '0x1235', '{"x":1}', '-v'])
    p.server.close()
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ x: 1 })
    expect(r.stderr).toContain('< push id=0 0x99')
    // The answer's packet header, shown under it.
    expect(r.stderr).toMatch(/< response id=1 200 OK \(7 bytes\)\n< X-Echo: yes/)
    // What stmpcat sent: the real client's handshake bytes for JSON, then a request a8 0100 b424.
    const sent = Buffer.concat(p.got)
    expect(sent.subarray(0, 30).equals(streamBytes('stmp_tcp.log', 'client').subarray(0, 30))).toBe(true)
    expect(sent.subarray(30, 35).toString('hex')).toBe('a80100b524')
  })

  it('a string method the server answers NotFound (quirk 1) is reported: exit 6, 404 NotFound', async () => {
    const p = await peer((socket, d) => {
      if (d.subarray(0, 4).toString() === 'STMP') return void socket.write(HANDSHAKE)
      if (d[0] === 0xaa) socket.write(Buffer.from([0xc8, d[1], d[2], 0x22, 0x08, ...Buffer.from('NotFound')]))
      if (d[0] === 0xd8) socket.end(Buffer.from('d80003627965', 'hex'))
    })
    const r = await runCli(['fetch', '--dialect', 'stmp-go', p.url, 'stmp.test.Svc.Echo', '{"y":2}'])
    p.server.close()
    expect(r.code).toBe(6)
    expect(r.stderr).toContain('404')
    expect(r.stderr).toContain('NotFound')
    // ... with what to do about it.
    expect(r.stderr).toContain('routes numeric actions only')
    expect(r.stderr).toContain('--proto FILE')
    // The request went with the SA bit and the method as the real client wrote it.
    expect(Buffer.concat(p.got).includes(Buffer.from('aa010012', 'hex'))).toBe(true)
  })

  it('a refused handshake (status 0x21 and a message) is HANDSHAKE_REFUSED with the server\'s message, exit 3', async () => {
    const p = await peer((socket) => {
      socket.end(Buffer.concat([Buffer.from('STMP'), Buffer.from([0x21, 0x00, 0x09]), Buffer.from('bad token')]))
    })
    const r = await runCli(['fetch', '--dialect', 'stmp-go', p.url, '0x1234', '{}'])
    p.server.close()
    expect(r.code).toBe(3)
    expect(r.stderr).toContain('HANDSHAKE_REFUSED')
    expect(r.stderr).toContain('401')
    expect(r.stderr).toContain('bad token')
  })

  it('WebSocket: a real server\'s refusal in its handshake message (binary and text) is HANDSHAKE_REFUSED; its text packets in binary messages are read', async () => {
    const { WebSocketServer } = await import('ws')
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise<void>((r) => wss.on('listening', () => r()))
    const queries: string[] = []
    wss.on('connection', (socket, req) => {
      queries.push(req.url ?? '')
      const q = new URLSearchParams((req.url ?? '').split('?')[1])
      const mode = q.get('X-Mode')
      if (mode === 'refuse-binary') socket.send(Buffer.concat([Buffer.from('STMP'), Buffer.from([0x21, 0x00, 0x06]), Buffer.from('no way')]))
      else if (mode === 'refuse-text') socket.send('STMP21\nMno way')
      else {
        // As stmpgo-ws-text.pcap: the handshake a text message, then text packets in binary messages.
        socket.send('STMP0\nHContent-Type:application/json;Packet-Format:text')
        socket.on('message', (m: Buffer) => {
          const t = m.toString()
          const mid = /^Q([0-9A-F]+):/.exec(t)?.[1]
          if (mid !== undefined) {
            socket.send(Buffer.from('N99\nP{"n":1}'))
            socket.send(Buffer.from(`S${mid}:0\nHX-Echo:yes\nP{"x":1}`))
          }
          if (t.startsWith('C')) {
            socket.send(Buffer.from(t))
            socket.close(1000, 'OK')
          }
        })
      }
    })
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/stmp`
    for (const mode of ['refuse-binary', 'refuse-text']) {
      const r = await runCli(['fetch', '--dialect', 'stmp-go', url, '0x1234', '{}', '-H', `X-Mode:${mode}`])
      expect(r.code).toBe(3)
      expect(r.stderr).toContain('HANDSHAKE_REFUSED')
      expect(r.stderr).toContain('no way')
      expect(r.stderr).toContain('0x21 Unauthorized')
    }
    const ok = await runCli(['fetch', '--dialect', 'stmp-go', url, '0x1234', '{"x":1}', '--format', 'text', '-v'])
    wss.close()
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout)).toEqual({ x: 1 })
    expect(ok.stderr).toContain('< push id=0 0x99')
    expect(ok.stderr).toContain('< X-Echo: yes')
    expect(queries[2]).toBe('/stmp?Accept=application%2Fjson&Accept-Packet-Format=text&Packet-Format=text&Stmp-Version=1.0')
  })

  it('bad bytes from the server are a coded protocol error (exit 5), not a crash', async () => {
    const p = await peer((socket, d) => {
      if (d.subarray(0, 4).toString() === 'STMP') return void socket.write(HANDSHAKE)
      socket.write(Buffer.from([0xe0, 0x01]))
    })
    const r = await runCli(['fetch', '--dialect', 'stmp-go', p.url, '0x1234', '{}'])
    p.server.close()
    expect(r.code).toBe(5)
    expect(r.stderr).toContain('BAD_KIND')
    expect(r.stderr).not.toMatch(/\n\s+at /)
  })

  it('a server\'s Ping is answered with a Pong; serve --keepalive pings a stmp-go client and takes its Pong, and closes it with 0x41 ServerShutdown on SIGTERM', async () => {
    const p = await peer((socket, d) => {
      if (d.subarray(0, 4).toString() === 'STMP') return void socket.write(Buffer.concat([HANDSHAKE, Buffer.from([0x80])]))
      if (d.includes(0xa8)) {
        const at = d.indexOf(0xa8)
        socket.write(Buffer.from([0xc8, d[at + 1], d[at + 2], 0x00, 0x02, 0x7b, 0x7d]))
      }
      if (d.includes(0xd8)) socket.end(Buffer.from('d80003627965', 'hex'))
    })
    const r = await runCli(['fetch', '--dialect', 'stmp-go', p.url, '0x1234', '{}'])
    p.server.close()
    expect(r.code).toBe(0)
    const packets: Packet[] = []
    new PacketStream((pk) => packets.push(pk)).write(Buffer.concat(p.got).subarray(30))
    expect(packets.map((pk) => pk.kind)).toEqual(['pong', 'request', 'close'])

    const pinging = await startServe(['--dialect', 'stmp-go', 'tcp://127.0.0.1:0', '--keepalive', '200ms'])
    const url = new URL(pinging.urls[0])
    const { connect } = await import('node:net')
    const socket = connect(Number(url.port), url.hostname)
    const got: Buffer[] = []
    socket.on('data', (d) => {
      got.push(d)
      if (d[0] === 0x80) socket.write(Buffer.from([0x90]))
      // The server's Close (shutting down): echoed, as stmp-go's dispatchPacket does.
      if (d[0] === 0xd8) socket.end(d)
    })
    const closed = new Promise<void>((res) => socket.on('close', () => res()))
    await new Promise<void>((res) => socket.on('connect', () => res()))
    socket.write(streamBytes('stmp_tcp.log', 'client').subarray(0, 30))
    await new Promise((res) => setTimeout(res, 900))
    // Still open after several pings answered: a request is answered.
    socket.write(Buffer.from('a80100b424027b7d', 'hex'))
    await new Promise((res) => setTimeout(res, 200))
    // SIGTERM: the server closes its clients with 1001, on the wire 0x41 ServerShutdown.
    await pinging.stop()
    await closed
    const all = Buffer.concat(got)
    const seen: Packet[] = []
    new PacketStream((pk) => seen.push(pk)).write(all.subarray(decodeHandshake(all, 'server')!.size))
    expect(seen.filter((pk) => pk.kind === 'ping').length).toBeGreaterThanOrEqual(2)
    expect(seen.find((pk) => pk.kind === 'response')).toMatchObject({ mid: 1, status: 0 })
    expect(seen.find((pk) => pk.kind === 'close')).toMatchObject({ status: 0x41 })
  })

  it('not a stmp-go client: an HTTP request gets a handshake with 0x03 ProtocolError and the end; a v3 client is told to try --dialect stmp-go', async () => {
    const url = new URL(tcp)
    const { connect } = await import('node:net')
    const socket = connect(Number(url.port), url.hostname)
    const got: Buffer[] = []
    socket.on('data', (d) => got.push(d))
    const ended = new Promise<void>((r) => socket.on('close', () => r()))
    socket.write('GET /stmp HTTP/1.1\r\nHost: x\r\n\r\n')
    await ended
    const answer = decodeHandshake(Buffer.concat(got), 'server')!.handshake
    expect(answer.status).toBe(0x03)
    expect(answer.message).toContain('not "STMP"')
    const v3 = await runCli(['fetch', tcp, 'x', '{}'])
    expect(v3.code).toBe(3)
    expect(v3.stderr).toContain('looks like stmp-go 1.0: try --dialect stmp-go')
  })

  it('a raw stmp-go client against stmpcat serve: the real client\'s bytes answered, its second Close tolerated', async () => {
    const url = new URL(tcp)
    const client = streamBytes('stmp_tcp.log', 'client')
    const { connect } = await import('node:net')
    const socket = connect(Number(url.port), url.hostname)
    const got: Buffer[] = []
    socket.on('data', (d) => got.push(d))
    const ended = new Promise<void>((r) => socket.on('close', () => r()))
    await new Promise<void>((r) => socket.on('connect', () => r()))
    // Handshake and request 1 (0x1234 {"x":1}) as the real client sent them.
    socket.write(client.subarray(0, 43))
    await new Promise((r) => setTimeout(r, 300))
    // Close "bye", then the second Close the real client writes after it.
    socket.write(Buffer.from('d80003627965', 'hex'))
    await new Promise((r) => setTimeout(r, 50))
    socket.write(SECOND_CLOSE)
    socket.end()
    await ended
    const all = Buffer.concat(got)
    expect(all.subarray(0, 4).toString()).toBe('STMP')
    expect(all[4]).toBe(0)
    // The answer: c8 0100 00 07 {"x":1} (no header), and the echo of the Close.
    expect(all.includes(Buffer.from('c8010000077b2278223a317d', 'hex'))).toBe(true)
    expect(all.subarray(-6).toString('hex')).toBe('d80003627965')
    await new Promise((r) => setTimeout(r, 200))
    expect(serve.stderr()).not.toMatch(/BAD_|error/i)
  })
})

describe('a handler module\'s ctx.set under stmp-go', { timeout: 60_000 }, () => {
  it('sets packet headers on its responses; a status answer keeps them', async () => {
    const handler = join(dir, 'headers.mjs')
    writeFileSync(handler, [
      'export default async (ctx) => {',
      "  ctx.set('X-Handler', 'mjs')",
      "  ctx.set('X-N', 2)",
      "  if (ctx.action === '0x2') ctx.throw(401, 'no')",
      '  ctx.body = { got: ctx.input }',
      '}',
      '',
    ].join('\n'))
    const s = await startServe(['--dialect', 'stmp-go', 'tcp://127.0.0.1:0', '--handler', handler], 1)
    try {
      const r = await runCli(['fetch', '--dialect', 'stmp-go', s.urls[0], '0x1', '{"a":1}', '--json'])
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout)).toMatchObject({ payload: { got: { a: 1 } }, responseHeaders: { 'X-Handler': 'mjs', 'X-N': '2' } })
      const e = await runCli(['fetch', '--dialect', 'stmp-go', s.urls[0], '0x2', '{}', '-v'])
      expect(e.code).toBe(6)
      expect(e.stderr).toMatch(/< response id=1 401 Unauthorized[^\n]*\n< X-Handler: mjs/)
    } finally {
      await s.stop()
    }
  })
})
