import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { type ServeProcess, runCli, spawnCli, startServe } from '../../helpers/cli.js'
import { RawWsClient } from '../../helpers/raw-ws.js'
import { tempDir } from '../../helpers/tmp.js'

/**
 * stmpcat as a Stocking server (serve --dialect stocking) through the built CLI: fetch, push and
 * connect through the dialect, and raw WebSocket clients (the `ws` library, real sockets) sending
 * the very messages of the real Stocking client (fixtures/stocking.log) to check the bytes the
 * server answers with: Connect, ping, callback codes, the status mapping, rooms, the server's
 * strictness.
 */

/** A raw Stocking client: the server's text messages, in order. */
class RawClient extends RawWsClient {
  static async open(url: string): Promise<RawClient> {
    const client = new RawClient(new WebSocket(url))
    await client.opened()
    return client
  }

  send(text: string): void { this.ws.send(text) }

  texts(): string[] { return this.received.map((b) => b.toString('utf8')) }

  async messages(n: number): Promise<string[]> {
    await this.frames(n)
    return this.texts()
  }
}

const frames = (serve: ServeProcess) => serve.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === 'frame')

describe('serve --dialect stocking (echo)', () => {
  let serve: ServeProcess
  let url: string

  beforeAll(async () => {
    serve = await startServe(['--dialect', 'stocking', 'ws://127.0.0.1:0/ws', '--log'])
    url = serve.urls[0]
  }, 30_000)
  afterAll(async () => { await serve?.stop() })

  it('fetch prints the echo; --json has status 200; the server saw a request with the client\'s callback code', async () => {
    const a = await runCli(['fetch', '--dialect', 'stocking', url, 'route', '{"x":1}'])
    expect(a.stderr).toBe('')
    expect(a.code).toBe(0)
    expect(JSON.parse(a.stdout)).toEqual({ x: 1 })
    const b = await runCli(['fetch', '--dialect', 'stocking', url, 'user.get', '{"id":7}', '--json'])
    expect(b.code).toBe(0)
    expect(JSON.parse(b.stdout)).toMatchObject({ status: 200, action: 'user.get', payload: { id: 7 } })
    // --log keeps the dialect's own fields: the callback code the request came with, and the answer's.
    const request = frames(serve).find((f) => f.kind === 'request' && f.action === 'route')
    expect(request).toMatchObject({ direction: 'in', payload: { x: 1 }, ccode: expect.stringMatching(/^\d+$/) })
    expect(frames(serve).find((f) => f.kind === 'response' && f.direction === 'out' && f.action === 'route')).toMatchObject({ ccode: request?.ccode })
  })

  it('a payload the real server would hang up on is refused before it is sent: BAD_PAYLOAD, exit 2', async () => {
    const r = await runCli(['fetch', '--dialect', 'stocking', url, 'refused.route', '"doge"'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/BAD_PAYLOAD: refused\.route: the payload is a string, not a JSON object/)
    await new Promise((res) => setTimeout(res, 200))
    expect(frames(serve).some((f) => f.action === 'refused.route')).toBe(false)
  })

  it('push arrives as a message without a callback code; connect in a pipe answers each line', async () => {
    const p = await runCli(['push', '--dialect', 'stocking', url, 'news', '{"n":1}'])
    expect(p.code).toBe(0)
    await new Promise((r) => setTimeout(r, 200))
    expect(frames(serve).find((f) => f.kind === 'push' && f.action === 'news')).toMatchObject({ direction: 'in', payload: { n: 1 } })
    const c = await runCli(['connect', '--dialect', 'stocking', url], { stdin: '{"action":"a","payload":{"q":1}}\n{"action":"b","payload":null}\n{"action":"c"}\n' })
    expect(c.stderr).toBe('')
    expect(c.code).toBe(0)
    const lines = c.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.map((l) => [l.action, l.status, l.payload])).toEqual([['a', 200, { q: 1 }], ['b', 200, null], ['c', 200, null]])
  })

  it('the bytes: Connect first, ping 3,, answered 3, callback codes echoed, ccode 0 unanswered, empty p answered null', async () => {
    const c = await RawClient.open(url)
    expect(await c.messages(1)).toEqual(['0'])
    c.send('3,,')
    c.send('4,7,{"e":"echo","p":{"x":1}}')
    c.send('4,0,{"e":"echo","p":{"silent":true}}')
    c.send('4,abc,{"e":"echo","p":null}')
    c.send('4,8,{"p":{}}')
    expect(await c.messages(5)).toEqual(['0', '3', '4,7,{"c":-1,"p":{"x":1}}', '4,abc,{"c":-1,"p":null}', '4,8,{"c":-1,"p":{}}'])
    c.ws.close(1000, 'bye')
    expect(await c.close()).toMatchObject({ code: 1000 })
  })

  it('the server\'s strictness: "p" not an object, a message without two commas, and 2,, close the connection', async () => {
    const a = await RawClient.open(url)
    a.send('4,1,{"e":"echo","p":"doge"}')
    const ca = await a.close()
    expect(ca.code).toBe(1002)
    expect(ca.reason).toMatch(/^NOT_AN_OBJECT at byte 0/)
    expect(a.texts()).toEqual(['0'])
    const b = await RawClient.open(url)
    b.send('3')
    expect((await b.close()).reason).toMatch(/^BAD_MESSAGE/)
    const c = await RawClient.open(url)
    c.send('4,2,not json')
    expect((await c.close()).reason).toMatch(/^BAD_BODY/)
    const d = await RawClient.open(url)
    d.send('2,,')
    expect((await d.close()).code).toBe(1000)
    expect(d.texts()).toEqual(['0'])
  })

  it('rooms: join 6,1, broadcast 5,room,... reaches the other members unchanged, not the sender; leave 6,0', async () => {
    const a = await RawClient.open(url)
    const b = await RawClient.open(url)
    const outsider = await RawClient.open(url)
    a.send('6,1,room')
    b.send('6,1,room')
    // A ping round trip on each: the joins were handled before the broadcast.
    a.send('3,,')
    b.send('3,,')
    await a.messages(2)
    await b.messages(2)
    a.send('5,room,hello, room')
    expect(await b.messages(3)).toEqual(['0', '3', '5,room,hello, room'])
    a.send('6,0,room')
    a.send('3,,')
    await a.messages(3)
    b.send('5,room,after A left')
    b.send('3,,')
    expect(await b.messages(4)).toEqual(['0', '3', '5,room,hello, room', '3'])
    await new Promise((r) => setTimeout(r, 200))
    expect(a.texts()).toEqual(['0', '3', '3'])
    expect(outsider.texts()).toEqual(['0'])
    for (const c of [a, b, outsider]) c.ws.close()
  })
})

describe('serve --dialect stocking: each client\'s own channel, and a broadcast to none', () => {
  let serve: ServeProcess
  beforeAll(async () => {
    serve = await startServe(['--dialect', 'stocking', 'ws://127.0.0.1:0/ws'])
  }, 30_000)
  afterAll(async () => { await serve?.stop() })

  it('client n is in channel "n" (5,2,... reaches client 2 only); 5,nochan,... is answered 1,0,Channel "nochan" not found', async () => {
    const one = await RawClient.open(serve.urls[0])
    await one.messages(1)
    const two = await RawClient.open(serve.urls[0])
    await two.messages(1)
    const three = await RawClient.open(serve.urls[0])
    await three.messages(1)
    one.send('5,2,a direct message')
    one.send('5,nochan,hello?')
    one.send('3,,')
    expect(await one.messages(3)).toEqual(['0', '1,0,Channel "nochan" not found', '3'])
    expect(await two.messages(2)).toEqual(['0', '5,2,a direct message'])
    await new Promise((r) => setTimeout(r, 100))
    expect(three.texts()).toEqual(['0'])
    for (const c of [one, two, three]) c.ws.close()
  })
})

describe('serve --dialect stocking --routes: statuses on the wire', () => {
  let serve: ServeProcess
  let url: string

  beforeAll(async () => {
    const dir = tempDir('stmpcat-stocking-routes-')
    const routes = join(dir, 'routes.yaml')
    writeFileSync(routes, [
      'greet: { reply: "Hello {{payload.name}}" }',
      'fail: { status: 500, reply: boom }',
      'missing: { status: 404, reply: nope }',
      'nothing: { reply: null }',
      'lobby: { join: lobby, reply: { joined: lobby } }',
      'shout: { broadcast: { to: "room:lobby", action: lobby, payload: "{{payload}}", exceptSender: true }, reply: {} }',
    ].join('\n'))
    serve = await startServe(['--dialect', 'stocking', 'ws://127.0.0.1:0/ws', '--routes', routes])
    url = serve.urls[0]
  }, 30_000)
  afterAll(async () => { await serve?.stop() })

  it('200 is c -1, 500 is c 0, 404 travels as c 404 (the message in p); fetch maps them back (exit 7, exit 6)', async () => {
    const c = await RawClient.open(url)
    c.send('4,1,{"e":"greet","p":{"name":"doge"}}')
    c.send('4,2,{"e":"fail","p":{}}')
    c.send('4,3,{"e":"missing","p":{}}')
    expect((await c.messages(4)).slice(1)).toEqual(['4,1,{"c":-1,"p":"Hello doge"}', '4,2,{"c":0,"p":"boom"}', '4,3,{"c":404,"p":"nope"}'])
    c.ws.close()
    const ok = await runCli(['fetch', '--dialect', 'stocking', url, 'greet', '{"name":"doge"}'])
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout)).toBe('Hello doge')
    const fail = await runCli(['fetch', '--dialect', 'stocking', url, 'fail', '{}'])
    expect(fail.code).toBe(7)
    expect(fail.stderr).toMatch(/500/)
    expect(fail.stderr).toMatch(/boom/)
    const missing = await runCli(['fetch', '--dialect', 'stocking', url, 'missing', '{}', '--json'])
    expect(missing.code).toBe(6)
    expect(missing.stdout).toMatch(/404/)
  })

  it('a server-side room (routes join/broadcast) reaches Stocking clients as 5,<room>,<payload>; connect prints it as a push', async () => {
    const member = await RawClient.open(url)
    member.send('4,1,{"e":"lobby","p":{}}')
    expect((await member.messages(2))[1]).toBe('4,1,{"c":-1,"p":{"joined":"lobby"}}')
    // connect joins too (its stdin stays open), then the raw member shouts: connect gets the push.
    const child = spawnCli(['connect', '--dialect', 'stocking', url])
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
    const until = async (re: RegExp) => {
      const deadline = Date.now() + 5000
      while (!re.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    }
    child.stdin.write('{"action":"lobby","payload":{}}\n')
    await until(/"joined":"lobby"/)
    member.send('4,2,{"e":"shout","p":{"hi":1}}')
    await until(/"kind":"push"/)
    child.stdin.end('{"action":"shout","payload":{"hi":2}}\n')
    expect(await exited).toBe(0)
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toContainEqual({ kind: 'push', action: 'lobby', payload: { hi: 1 } })
    expect(lines.filter((l) => l.status === 200).map((l) => l.action)).toEqual(['lobby', 'shout'])
    // connect's shout reached the member, its own did not come back to it.
    expect((await member.messages(4)).slice(2)).toEqual(['4,2,{"c":-1,"p":{}}', '5,lobby,{"hi":2}'])
    member.ws.close()
  })
})
