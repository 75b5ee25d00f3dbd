import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type WebSocket, WebSocketServer } from 'ws'
import { connect } from '../../../src/lib/session/index.js'
import { runCli } from '../../helpers/cli.js'

/**
 * stmpcat as a Stocking client (fetch, connect, the Session's room commands) against a peer on a
 * real socket that answers as the real Stocking server did in fixtures/stocking.log: `0` on
 * connect, `3` to `3,,`, the README's routes (echo, greet, fail, nothing, a fallback), rooms
 * forwarded raw, `1,0,Channel "x" not found`. It records what it received.
 */
const received: string[] = []
let wss: WebSocketServer
let url: string

function stockingPeer(ws: WebSocket): void {
  const rooms = (wss as unknown as { rooms: Map<string, Set<WebSocket>> }).rooms
  ws.send('0')
  ws.on('message', (data: Buffer) => {
    const text = data.toString('utf8')
    received.push(text)
    const a = text.indexOf(',')
    const b = text.indexOf(',', a + 1)
    if (a === -1 || b === -1) return ws.terminate()
    const [type, ccode, content] = [text.slice(0, a), text.slice(a + 1, b), text.slice(b + 1)]
    if (type === '3') return ws.send('3')
    if (type === '6') {
      const members = rooms.get(content) ?? new Set<WebSocket>()
      rooms.set(content, members)
      if (ccode === '1') members.add(ws)
      else members.delete(ws)
      return
    }
    if (type === '5') {
      const members = rooms.get(ccode)
      if (!members) return ws.send(`1,0,Channel "${ccode}" not found`)
      for (const m of members) if (m !== ws) m.send(text)
      return
    }
    if (type !== '4') return
    const { e, p } = JSON.parse(content) as { e: string; p: unknown }
    if (p !== null && (typeof p !== 'object' || Array.isArray(p))) return ws.terminate()
    const reply = e === 'echo' ? { c: -1, p } : e === 'greet' ? { c: -1, p: `Hello ${(p as { name: string }).name}` } : e === 'fail' ? { c: 0, p: 'boom' } : e === 'nothing' ? undefined : { c: -1, p: 'oops' }
    if (ccode !== '0') ws.send(`4,${ccode},${reply === undefined ? '' : JSON.stringify(reply)}`)
  })
}

beforeAll(async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' })
  ;(wss as unknown as { rooms: Map<string, Set<WebSocket>> }).rooms = new Map()
  wss.on('connection', stockingPeer)
  await new Promise<void>((r) => wss.once('listening', () => r()))
  url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`
})
afterAll(async () => { await new Promise<void>((r) => wss.close(() => r())) })

describe('stmpcat as a Stocking client', () => {
  it('fetch: the answer\'s p; c 0 is a 500 with the message (exit 7); an empty answer is 200 with nothing', async () => {
    const greet = await runCli(['fetch', '--dialect', 'stocking', url, 'greet', '{"name":"doge"}'])
    expect(greet.code).toBe(0)
    expect(JSON.parse(greet.stdout)).toBe('Hello doge')
    // The callback code is the Wire's own: the first request of a connection gets 1.
    expect(received).toContain('4,1,{"e":"greet","p":{"name":"doge"}}')
    const fail = await runCli(['fetch', '--dialect', 'stocking', url, 'fail', '{}', '--json'])
    expect(fail.code).toBe(7)
    expect(fail.stdout).toMatch(/"status":500/)
    expect(fail.stdout).toMatch(/boom/)
    const nothing = await runCli(['fetch', '--dialect', 'stocking', url, 'nothing', '{}', '--json'])
    expect(nothing.code).toBe(0)
    expect(JSON.parse(nothing.stdout)).toMatchObject({ status: 200, action: 'nothing' })
  })

  it('connect in a pipe: requests get their own callback codes; a push goes out with ccode 0', async () => {
    const before = received.length
    const r = await runCli(['connect', '--dialect', 'stocking', url], { stdin: '{"action":"echo","payload":{"a":1}}\n{"push":true,"action":"echo","payload":{"silent":true}}\n{"action":"nosuchroute","payload":{}}\n' })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.map((l) => [l.action, l.status, l.payload])).toEqual([['echo', 200, { a: 1 }], ['nosuchroute', 200, 'oops']])
    const sent = received.slice(before)
    expect(sent).toContain('4,0,{"e":"echo","p":{"silent":true}}')
    const codes = sent.filter((t) => t.startsWith('4,') && !t.startsWith('4,0,')).map((t) => t.split(',')[1])
    expect(new Set(codes).size).toBe(2)
    expect(codes.every((c) => /^[1-9]\d*$/.test(c))).toBe(true)
  })

  it('rooms through the session: join 6,1, broadcast 5,room,payload, leave 6,0; a broadcast arriving is a push named by its room; Error 1,0 is an event', async () => {
    const a = await connect(url, { dialect: 'stocking' })
    const b = await connect(url, { dialect: 'stocking' })
    const pushes: { action: string; payload: string }[] = []
    b.onPush = (p) => pushes.push({ action: p.action, payload: p.payload.toString('utf8') })
    const events: { name: string; data: Record<string, unknown> }[] = []
    a.onEvent = (name, data) => events.push({ name, data })
    a.command('join', { room: 'room' })
    b.command('join', { room: 'room' })
    await a.ping()
    await b.ping()
    a.command('broadcast', { room: 'room', payload: Buffer.from('hello, room') })
    a.command('broadcast', { room: 'nochan', payload: Buffer.from('x') })
    await a.ping()
    await b.ping()
    expect(pushes).toEqual([{ action: 'room', payload: 'hello, room' }])
    expect(events).toEqual([{ name: 'error', data: { ccode: '0', message: 'Channel "nochan" not found' } }])
    a.command('leave', { room: 'room' })
    expect(() => a.command('broadcast', { room: 'a,b' })).toThrow(/comma/)
    expect(() => a.command('shout', { room: 'room' })).toThrow(/no shout/)
    await a.ping()
    expect(received).toEqual(expect.arrayContaining(['6,1,room', '5,room,hello, room', '5,nochan,x', '6,0,room', '3,,']))
    await a.close(1000, 'bye')
    await b.close(1000, 'bye')
  })

  it('a request with a payload the server would drop the connection on is refused with BAD_PAYLOAD; the connection lives on', async () => {
    const s = await connect(url, { dialect: 'stocking' })
    await expect(s.request('echo', Buffer.from('[1,2]'))).rejects.toMatchObject({ code: 'BAD_PAYLOAD' })
    await expect(s.request('echo', Buffer.from('not json'))).rejects.toMatchObject({ code: 'BAD_PAYLOAD' })
    const ok = await s.request('echo', Buffer.from('{"still":"open"}'))
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.payload.toString('utf8'))).toEqual({ still: 'open' })
    await s.close(1000, 'bye')
  })
})
