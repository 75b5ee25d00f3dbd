import { describe, expect, it } from 'vitest'
import { ProtoRegistry, getPayloadCodec } from '../../src/lib/payload/index.js'
import type { Session } from '../../src/lib/session/index.js'
import { client, json, ndjson, parse, serve, sleep, tempDir, until, writeFile } from './helpers.js'

describe('serve: stdin pushes, --log, --stats', () => {
  it('pushes stdin lines to all, a room and one connection; reports a bad line and goes on; stdin ending does not stop it', async () => {
    const dir = tempDir()
    const routes = writeFile(dir, 'routes.yaml', 'whoami:\n  reply: "{{connection.id}}"\nroom.join:\n  join: "{{payload}}"\n')
    const p = await serve(['tcp://127.0.0.1:0', '--routes', routes, '--stats', '--stats-interval', '300ms'])
    const [a, b, c] = await Promise.all([client(p.urls[0]), client(p.urls[0]), client(p.urls[0])])
    const got = new Map<Session, string[]>([[a, []], [b, []], [c, []]])
    for (const [s, list] of got) s.onPush = (push) => list.push(`${push.action} ${push.payload.toString()}`)
    await a.request('room.join', json('blue'))
    const cid = parse((await c.request('whoami', json(null))).payload) as number
    p.child.stdin.write([
      '{"action":"hello","payload":{"n":1}}',
      '{"action":"blue.only","payload":2,"to":"room:blue"}',
      `{"action":"just.you","payload":3,"to":${cid}}`,
      'this is not json',
      '',
      '{"action":"after.bad","payload":"4"}',
      '',
    ].join('\n'))
    await until(() => [...got.values()].every((l) => l.at(-1)?.startsWith('after.bad') === true), 5000, 'stdin pushes')
    expect(got.get(a)).toEqual(['hello {"n":1}', 'blue.only 2', 'after.bad "4"'])
    expect(got.get(b)).toEqual(['hello {"n":1}', 'after.bad "4"'])
    expect(got.get(c)).toEqual(['hello {"n":1}', 'just.you 3', 'after.bad "4"'])
    expect(p.stderr()).toMatch(/stdin line 4: BAD_INPUT/)
    // Not a terminal, and NO_COLOR (set by the test helper): no colour codes.
    expect(p.stderr().includes('\u001b[')).toBe(false)
    p.child.stdin.end()
    await sleep(300)
    expect(p.child.exitCode).toBeNull()
    expect((await b.request('whoami', json(null))).status).toBe(200)
    // Human lines on stderr: connections opening, stats every interval, stats and close at the end.
    await until(() => /#\d+ stats: /.test(p.stderr()), 5000, 'a stats line')
    await b.close(1000, 'bye')
    await until(() => /final stats: .*requests 1 in/.test(p.stderr()) && /closed 1000 bye \(remote\)/.test(p.stderr()), 5000, 'final stats')
    expect(p.stderr()).toMatch(/#\d+ open /)
    expect(p.stdout()).toBe('')
  })

  it('--log --stats --json: frames, events and stats as NDJSON on stdout; a bad stdin line as an error object', async () => {
    const p = await serve(['tcp://127.0.0.1:0', '--log', '--stats', '--stats-interval', '200ms', '--json'])
    const c = await client(p.urls[0], { headers: { 'X-Trace': 't1' } })
    const res = await c.request('calc', json({ a: 1 }))
    expect(res.status).toBe(200)
    c.push('note', json('hi'))
    p.child.stdin.write('oops\n')
    await until(() => ndjson(p).some((o) => o.event === 'stats' && o.final === false && o.requestsIn === 1 && typeof o.rtt === 'number'), 5000, 'interval stats with an rtt')
    await c.close(1000, 'done')
    await until(() => ndjson(p).some((o) => o.event === 'close'), 5000, 'close event')
    const lines = ndjson(p)
    for (const o of lines) expect(Number.isNaN(Date.parse(String(o.time)))).toBe(false)
    const open = lines.find((o) => o.event === 'open') as Record<string, unknown>
    expect(open).toMatchObject({ url: '/?stmp_version=3', contentType: 'application/json', headers: { 'x-trace': 't1' } })
    const conn = open.connection
    const frames = lines.filter((o) => o.event === 'frame')
    expect(frames).toContainEqual(expect.objectContaining({ connection: conn, direction: 'in', kind: 'request', action: 'calc', payload: { a: 1 } }))
    expect(frames).toContainEqual(expect.objectContaining({ connection: conn, direction: 'out', kind: 'response', action: 'calc', status: 200, payload: { a: 1 } }))
    expect(frames).toContainEqual(expect.objectContaining({ direction: 'in', kind: 'push', action: 'note', payload: 'hi' }))
    expect(frames).toContainEqual(expect.objectContaining({ direction: 'in', kind: 'close', status: 1000, message: 'done' }))
    expect(lines).toContainEqual(expect.objectContaining({ event: 'error', line: 1, error: expect.objectContaining({ code: 'BAD_INPUT' }) }))
    const final = lines.find((o) => o.event === 'stats' && o.final === true)
    expect(final).toMatchObject({ connection: conn, requestsIn: 1, responsesOut: 1, pushesIn: 1 })
    expect(final?.bytesIn).toBeGreaterThan(0)
    expect(final?.bytesOut).toBeGreaterThan(0)
    // The stats ping measured a round trip.
    expect(typeof final?.rtt).toBe('number')
    expect(lines).toContainEqual(expect.objectContaining({ event: 'close', connection: conn, code: 1000, initiator: 'remote' }))
    expect(p.stderr()).toMatch(/stdin line 1: BAD_INPUT/)
  })
})

describe('serve: content types', () => {
  it('echoes msgpack and protobuf connections, and --log decodes their payloads', async () => {
    const dir = tempDir()
    const proto = writeFile(dir, 'geo.proto', `syntax = "proto3";
package demo;
message Point { int32 x = 1; int32 y = 2; string label = 3; }
service Geo { rpc Move(Point) returns (Point); }
`)
    const p = await serve(['tcp://127.0.0.1:0', 'ws://127.0.0.1:0/stmp', '--proto', proto, '--log'], 2)
    const msgpack = getPayloadCodec('msgpack')
    const protobuf = getPayloadCodec('protobuf', { protoRegistry: ProtoRegistry.load([proto]) })
    const ctx = { action: 'demo.Geo.Move', role: 'request' as const }
    for (const url of p.urls) {
      const m = await client(url, { contentType: 'application/msgpack' })
      const mres = await m.request('demo.Geo.Move', msgpack.encode({ x: 1, list: [1, 'two'] }, ctx))
      expect(mres.status).toBe(200)
      expect(msgpack.decode(mres.payload, ctx)).toEqual({ x: 1, list: [1, 'two'] })
      const b = await client(url, { contentType: 'application/protobuf' })
      const bres = await b.request('demo.Geo.Move', protobuf.encode({ x: 3, y: -4, label: 'here' }, ctx))
      expect(bres.status).toBe(200)
      expect(protobuf.decode(bres.payload, { ...ctx, role: 'response' })).toEqual({ x: 3, y: -4, label: 'here' })
    }
    await until(() => ndjson(p).filter((o) => o.event === 'frame' && o.kind === 'response').length === 4, 5000, 'logged responses')
    const requests = ndjson(p).filter((o) => o.event === 'frame' && o.kind === 'request').map((o) => o.payload)
    expect(requests).toEqual([{ x: 1, list: [1, 'two'] }, { x: 3, y: -4, label: 'here' }, { x: 1, list: [1, 'two'] }, { x: 3, y: -4, label: 'here' }])
  })
})
