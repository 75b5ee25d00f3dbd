import net from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeFrame, encodeHandshakeRequest } from '../../src/lib/codec/index.js'
import { StmpServer, connect, echoHandler, type Session } from '../../src/lib/session/index.js'
import { formatAddress, parseAddress } from '../../src/lib/transport/index.js'
import { tempDir } from '../helpers/tmp.js'

const servers: StmpServer[] = []
const clients: Session[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.transport.destroy()
  await Promise.all(servers.splice(0).map((s) => s.close(200)))
})

async function start(url: string, options: ConstructorParameters<typeof StmpServer>[0] = {}): Promise<{ server: StmpServer; url: string }> {
  const server = new StmpServer(options)
  servers.push(server)
  const listener = await server.listen(parseAddress(url, { listening: true }))
  return { server, url: formatAddress(listener.address) }
}

async function client(url: string, options: Parameters<typeof connect>[1] = {}): Promise<Session> {
  const c = await connect(url, options)
  clients.push(c)
  return c
}

const sock = join(tempDir('stmp-'), 's.sock')
const targets: [string, string, Parameters<typeof connect>[1]][] = [
  ['tcp', 'tcp://127.0.0.1:0', {}],
  ['unix', `unix:${sock}`, {}],
  ['ws binary', 'ws://127.0.0.1:0/stmp', { format: 'binary' }],
  ['ws text', 'ws://127.0.0.1:0/stmp', { format: 'text' }],
]

describe.each(targets)('session over %s', (_name, listenUrl, options) => {
  it('echoes requests, answers pings, carries pushes both ways and closes with a code', async () => {
    const pushes: string[] = []
    const { url } = await start(listenUrl, {
      handler: { ...echoHandler, push: (push, session) => { session.push('push.back', push.payload) } },
    })
    const c = await client(url, options)
    c.onPush = (p) => pushes.push(`${p.action} ${p.payload}`)
    const res = await c.request('test.echo', Buffer.from('{"a":1}'))
    expect(res.status).toBe(200)
    expect(res.payload.toString()).toBe('{"a":1}')
    const many = await Promise.all(Array.from({ length: 200 }, (_, i) => c.request('test.echo', Buffer.from(String(i)))))
    expect(many.map((r) => r.payload.toString())).toEqual(Array.from({ length: 200 }, (_, i) => String(i)))
    expect(await c.ping()).toBeGreaterThanOrEqual(0)
    c.push('hello', Buffer.from('"x"'))
    await new Promise((r) => setTimeout(r, 50))
    expect(pushes).toEqual(['push.back "x"'])
    const info = await c.close(1000, 'bye')
    expect(info.code).toBe(1000)
    expect(info.initiator).toBe('local')
  })
})

describe('session behaviour', () => {
  it('fragments a 5 MB payload on a stream and reassembles it, with other requests flowing between', async () => {
    const { url } = await start('tcp://127.0.0.1:0', { session: { fragmentSize: 64 * 1024 } })
    const c = await client(url, { fragmentSize: 64 * 1024 })
    const big = Buffer.alloc(5 * 1024 * 1024, 7)
    big.write('start')
    const order: string[] = []
    const bigReply = c.request('blob', big).then((r) => { order.push('big'); return r })
    const small = c.request('small', Buffer.from('1')).then((r) => { order.push('small'); return r })
    const [b, s] = await Promise.all([bigReply, small])
    expect(b.payload.equals(big)).toBe(true)
    expect(s.payload.toString()).toBe('1')
    expect(order[0]).toBe('small')
  })

  it('refuses a handshake without the token (401) and accepts it with the token', async () => {
    const { url } = await start('tcp://127.0.0.1:0', { token: 's3cret' })
    await expect(connect(url)).rejects.toMatchObject({ code: 'HANDSHAKE_REFUSED', status: 401 })
    const ok = await client(url, { token: 's3cret' })
    expect((await ok.request('a', Buffer.from('1'))).status).toBe(200)
    const ws = await start('ws://127.0.0.1:0/', { token: 's3cret' })
    await expect(connect(ws.url)).rejects.toMatchObject({ code: 'HANDSHAKE_REFUSED', status: 401 })
    expect((await (await client(ws.url, { token: 's3cret' })).request('a', Buffer.from('2'))).status).toBe(200)
  })

  it('times out a request and rejects pending ones when the connection closes', async () => {
    const { url } = await start('tcp://127.0.0.1:0', { handler: () => new Promise(() => undefined) })
    const c = await client(url, { requestTimeout: 100 })
    await expect(c.request('slow')).rejects.toMatchObject({ code: 'TIMEOUT' })
    const pending = c.request('slow', Buffer.alloc(0), { timeout: 0 })
    await new Promise((r) => setTimeout(r, 20))
    c.transport.destroy()
    await expect(pending).rejects.toMatchObject({ code: expect.stringMatching(/CONNECTION_(CLOSED|RESET)/) })
  })

  it('call(): the callback form of request() answers each request once, never from inside call(), and fails on timeout and close', async () => {
    const { url } = await start('tcp://127.0.0.1:0', { handler: (req) => (req.action === 'slow' ? new Promise(() => undefined) : { status: 200, payload: req.payload }) })
    const c = await client(url, { requestTimeout: 100 })
    const answers = new Map<number, string>()
    await new Promise<void>((resolve, reject) => {
      let left = 500
      for (let i = 0; i < 500; i++) {
        let insideCall = true
        c.call('echo', Buffer.from(`m${i}`), (error, response) => {
          if (insideCall) return reject(new Error('callback ran inside call()'))
          if (error !== null) return reject(error)
          if (answers.has(i)) return reject(new Error(`request ${i} answered twice`))
          answers.set(i, (response?.payload as Buffer).toString())
          if (--left === 0) resolve()
        })
        insideCall = false
      }
    })
    expect(answers.size).toBe(500)
    for (const [i, text] of answers) expect(text).toBe(`m${i}`)
    const timeout = await new Promise<Error | null>((resolve) => c.call('slow', Buffer.alloc(0), (error) => resolve(error)))
    expect(timeout).toMatchObject({ code: 'TIMEOUT' })
    const closed = new Promise<Error | null>((resolve) => c.call('slow', Buffer.alloc(0), (error) => resolve(error), { timeout: 0 }))
    await new Promise((r) => setTimeout(r, 20))
    c.transport.destroy()
    expect(await closed).toMatchObject({ code: expect.stringMatching(/CONNECTION_(CLOSED|RESET)/) })
    let sync = true
    const afterClose = new Promise<Error | null>((resolve) => c.call('echo', Buffer.alloc(0), (error) => resolve(sync ? new Error('synchronous') : error)))
    sync = false
    expect(await afterClose).toMatchObject({ code: 'CONNECTION_CLOSED' })
  })

  it('answers a peer that sends garbage with Close 1002 naming the code and byte, and keeps serving others', async () => {
    const { url } = await start('tcp://127.0.0.1:0')
    const port = Number(new URL(url).port)
    const raw = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    raw.on('data', (d) => chunks.push(d))
    await new Promise((r) => raw.once('connect', r))
    raw.write(encodeHandshakeRequest({ url: '/', headers: {} }))
    raw.write(Buffer.from('05900001780a', 'hex')) // reserved bit set
    await new Promise((r) => raw.once('close', r))
    const all = Buffer.concat(chunks)
    // handshake answer (5 bytes: 04 00 c8 O K) then a Close frame: LENGTH, 0x40, 1002.
    const close = all.subarray(5)
    expect(close[1]).toBe(0x40)
    expect(close.readUInt16BE(2)).toBe(1002)
    expect(close.subarray(4).toString()).toMatch(/RESERVED_BIT at byte 2/) // the stream offset: the handshake took bytes 0-1
    const c = await client(url)
    expect((await c.request('still', Buffer.from('ok'))).status).toBe(200)
  })

  it('answers an oversized request with 413 then Close 1009', async () => {
    const { url } = await start('tcp://127.0.0.1:0', { session: { limits: { maxFrameSize: 1024, maxMessageSize: 1024, maxOpenMessages: 4 } } })
    const c = await client(url, { fragmentSize: 1 << 20 })
    const big = c.request('big', Buffer.alloc(4096))
    await expect(big).resolves.toMatchObject({ status: 413 })
    expect((await c.closed).code).toBe(1009)
  })

  it('closes a silent peer with keep-alive pings', async () => {
    const { server, url } = await start('tcp://127.0.0.1:0', { session: { keepalive: 50, pingTimeout: 100 } })
    const port = Number(new URL(url).port)
    const raw = net.connect(port, '127.0.0.1')
    await new Promise((r) => raw.once('connect', r))
    raw.write(encodeHandshakeRequest({ url: '/', headers: {} }))
    // Reads (so the close is seen) but never answers pings.
    raw.resume()
    const closed = new Promise((r) => raw.once('close', r))
    const started = Date.now()
    await closed
    expect(Date.now() - started).toBeLessThan(2000)
    await new Promise((r) => setTimeout(r, 20))
    expect(server.sessions.size).toBe(0)
  })

  it('broadcasts to a room and to all', async () => {
    const { server, url } = await start('tcp://127.0.0.1:0', {
      handler: (req, session, srv) => {
        srv.join(session, req.payload.toString())
        return { status: 200 }
      },
    })
    const got: string[][] = [[], [], []]
    const cs = await Promise.all([0, 1, 2].map(() => client(url)))
    cs.forEach((c, i) => { c.onPush = (p) => got[i].push(p.payload.toString()) })
    await cs[0].request('join', Buffer.from('lobby'))
    await cs[1].request('join', Buffer.from('lobby'))
    await cs[2].request('join', Buffer.from('other'))
    expect(server.broadcast('room:lobby', 'news', Buffer.from('"l"'))).toBe(2)
    expect(server.broadcast('all', 'news', Buffer.from('"a"'))).toBe(3)
    await new Promise((r) => setTimeout(r, 50))
    expect(got).toEqual([['"l"', '"a"'], ['"l"', '"a"'], ['"a"']])
    void encodeFrame
  })
})

describe('a request the dialect refuses to send', () => {
  it('fails its callback with the dialect\'s error and leaves nothing pending (Stocking: a non-object payload)', async () => {
    const { url } = await start('ws://127.0.0.1:0/', { dialect: 'stocking' })
    const c = await client(url, { dialect: 'stocking' })
    const before = c.stats.requestsOut
    const err = await new Promise<Error | null>((resolve) => c.call('echo', Buffer.from('[1,2]'), (e) => resolve(e)))
    expect(err).toMatchObject({ code: 'BAD_PAYLOAD' })
    expect(c.inFlight).toBe(0)
    expect(c.stats.requestsOut).toBe(before)
    // The session still works.
    const ok = await c.request('echo', Buffer.from('{"a":1}'))
    expect(JSON.parse(ok.payload.toString())).toEqual({ a: 1 })
  })
})
