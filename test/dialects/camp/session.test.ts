import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type IncomingPush, type Session, StmpServer, connect } from '../../../src/lib/session/index.js'
import { parseAddress } from '../../../src/lib/transport/index.js'

/**
 * stmpcat's CAMP client and server in one process (real sockets on 127.0.0.1): a transaction
 * sent with the Wire command tx-send (TX_START with the size, TX_CHUNKs at their true offsets,
 * TX_FINISH) arrives as events and, whole, as a push `tx:<name>`; a second connection with a
 * live sid is refused 401 as CAMP-Server does; the server's BYE on shutdown.
 */
let server: StmpServer
let url: string
const events: [string, Record<string, unknown>][] = []
const pushes: IncomingPush[] = []

beforeAll(async () => {
  server = new StmpServer({
    dialect: 'camp',
    token: 'T',
    handler: { request: (r) => ({ status: 200, payload: r.payload }), push: (p) => { pushes.push(p) } },
    onEvent: (name, data) => { events.push([name, data]) },
  })
  const listener = await server.listen(parseAddress('ws://127.0.0.1:0/', { listening: true }))
  url = `ws://127.0.0.1:${listener.address.port}/`
})
afterAll(async () => { await server.close(1000) })

const sessions: Session[] = []
async function client(options: Record<string, unknown> = {}): Promise<Session> {
  const s = await connect(url, { dialect: 'camp', token: 'T', dialectOptions: options })
  sessions.push(s)
  return s
}

describe('CAMP client and server', () => {
  it('tx-send: the server gets tx-start (size), every chunk at its exact offset, tx-finish, and the whole payload as a push', async () => {
    const s = await client()
    const data = randomBytes(200_000)
    s.command('tx-send', { name: 'f.bin', payload: data, chunk: 65_536 })
    for (let t = 0; t < 80 && pushes.length === 0; t++) await new Promise((r) => setTimeout(r, 25))
    expect(pushes).toHaveLength(1)
    expect(pushes[0].action).toBe('tx:f.bin')
    expect(pushes[0].payload.equals(data)).toBe(true)
    const named = (n: string) => events.filter(([e]) => e === n).map(([, d]) => d)
    expect(named('tx-start')).toEqual([{ txId: 0, name: 'f.bin', size: 200_000, behaviour: 'push' }])
    expect(named('tx-chunk').map((c) => [c.offset, c.length, c.quirk])).toEqual([[0, 65_536, undefined], [65_536, 65_536, undefined], [131_072, 65_536, undefined], [196_608, 3392, undefined]])
    expect(named('tx-finish')).toEqual([{ txId: 0, name: 'f.bin', bytes: 200_000, chunks: 4, offByOne: 0, misplaced: 0, kept: true }])
    expect(named('endpoint-info')).toContainEqual({ version: 1, flags: 1, transactions: true })
    await s.close()
  })

  it('a second connection with the sid of a live one is refused 401; once it closed, the sid is free again', async () => {
    const first = await client({ sid: '4242' })
    await expect(client({ sid: '4242' })).rejects.toMatchObject({ code: 'HANDSHAKE_REFUSED', status: 401, message: expect.stringContaining('already exists') })
    expect((await first.close()).code).toBe(1000)
    const again = await client({ sid: '4242' })
    expect((await again.request('utf8', Buffer.from('1'))).status).toBe(200)
    await again.close()
  })

  it('a transaction over the session\'s message limit is reported by events only (kept: false, no push); one under it is a push', async () => {
    // Right behind the upgrade: nothing the server sends before the client session listens is lost.
    const other = new StmpServer({ dialect: 'camp', onConnection: (s) => {
      s.command('tx-send', { name: 'big', payload: Buffer.alloc(5000, 1), chunk: 1000 })
      s.command('tx-send', { name: 'small', payload: Buffer.alloc(500, 2), chunk: 1000 })
    } })
    const l = await other.listen(parseAddress('ws://127.0.0.1:0/', { listening: true }))
    const seen: [string, Record<string, unknown>][] = []
    const got: string[] = []
    const c = await connect(`ws://127.0.0.1:${l.address.port}/`, {
      dialect: 'camp', limits: { maxMessageSize: 4096, maxFrameSize: 4096, maxOpenMessages: 16 },
      prepare: (s) => { s.onEvent = (name, data) => seen.push([name, data]); s.onPush = (p) => got.push(`${p.action}:${p.payload.length}`) },
    })
    for (let t = 0; t < 40 && got.length === 0; t++) await new Promise((r) => setTimeout(r, 25))
    expect(seen.filter(([n]) => n === 'tx-finish').map(([, d]) => [d.name, d.bytes, d.kept])).toEqual([['big', 5000, false], ['small', 500, true]])
    expect(got).toEqual(['tx:small:500'])
    await c.close()
    await other.close(100)
  })

  it('a request, its echo as a push, ping both ways; closed by the server (shutdown) with BYE: the client sees 1000', async () => {
    const s = await client()
    const echoes: string[] = []
    s.onPush = (p) => echoes.push(`${p.action}:${p.payload.toString()}`)
    const res = await s.request('binary', Buffer.from([9, 9]))
    expect(res).toMatchObject({ status: 200, meta: { type: 'ack' } })
    expect(await s.ping()).toBeGreaterThan(0)
    for (let t = 0; t < 40 && echoes.length === 0; t++) await new Promise((r) => setTimeout(r, 25))
    expect(echoes).toEqual(['binary:\u0009\u0009'])
    const other = new StmpServer({ dialect: 'camp' })
    const l = await other.listen(parseAddress('ws://127.0.0.1:0/', { listening: true }))
    const c = await connect(`ws://127.0.0.1:${l.address.port}/`, { dialect: 'camp' })
    await other.close(1000)
    const info = await c.closed
    expect(info).toMatchObject({ code: 1000, initiator: 'remote' })
  })
})
