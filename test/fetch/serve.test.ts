import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startServe, type ServeProcess } from '../helpers/cli.js'
import { tempDir, testCertificate } from './helpers.js'

/** fetch and push against `stmpcat serve` (both built CLIs, as a user runs them). */
let serve: ServeProcess
let dir: string
let cert: ReturnType<typeof testCertificate>
let tcp: string, ws: string, unix: string, tls: string

beforeAll(async () => {
  dir = tempDir()
  cert = testCertificate(dir)
  const routes = join(dir, 'routes.yaml')
  writeFileSync(routes, [
    'test.echo:',
    '  reply: "{{payload}}"',
    'shop.v1.Shop/Echo:',
    '  reply: "{{payload}}"',
    'missing.thing:',
    '  status: 404',
    '  reply: "no such thing"',
    'broken:',
    '  status: 500',
    '  reply: "it broke"',
    '',
  ].join('\n'))
  serve = await startServe(['tcp://127.0.0.1:0', 'ws://127.0.0.1:0/stmp', `unix:${join(dir, 'serve.sock')}`, 'tls://127.0.0.1:0',
    '--cert', cert.certFile, '--key', cert.keyFile, '--routes', routes, '--log'], 4)
  ;[tcp, ws, unix, tls] = serve.urls
}, 60_000)

afterAll(async () => {
  await serve?.stop()
})

describe('fetch and push against stmpcat serve', { timeout: 120_000 }, () => {
  it('fetch over tcp, ws binary, ws text, unix and tls (--ca, -k; neither: exit 3)', async () => {
    const body = '{"a":[1,2,3]}'
    const runs = await Promise.all([
      runCli(['fetch', tcp, 'test.echo', body]),
      runCli(['fetch', ws, 'test.echo', body]),
      runCli(['fetch', ws, 'test.echo', body, '--format', 'text']),
      runCli(['fetch', unix, 'test.echo', body]),
      runCli(['fetch', tls, 'test.echo', body, '--ca', cert.certFile]),
      runCli(['fetch', tls, 'test.echo', body, '-k']),
    ])
    for (const run of runs) expect([run.code, run.stdout]).toEqual([0, `${body}\n`])
    const refused = await runCli(['fetch', tls, 'test.echo', body])
    expect(refused.code).toBe(3)
    expect(refused.stderr).toMatch(/^stmpcat: CONNECT_FAILED: /)
  })

  it('a route with status 404 exits 6, an unknown action exits 6, a route with status 500 exits 7', async () => {
    const [route404, unknown, route500] = await Promise.all([
      runCli(['fetch', tcp, 'missing.thing', '{}', '--json']),
      runCli(['fetch', tcp, 'not.routed', '{}']),
      runCli(['fetch', ws, 'broken', '{}']),
    ])
    expect(route404.code).toBe(6)
    expect(JSON.parse(route404.stdout)).toMatchObject({ status: 404, payload: 'no such thing' })
    expect([unknown.code, unknown.stdout]).toEqual([6, ''])
    expect(unknown.stderr).toMatch(/^stmpcat: STATUS: 404 /)
    expect([route500.code, route500.stdout]).toEqual([7, ''])
    expect(route500.stderr).toMatch(/^stmpcat: STATUS: 500 /)
  })

  it('msgpack and protobuf round trips through serve', async () => {
    const proto = join(dir, 'shop.proto')
    writeFileSync(proto, 'syntax = "proto3";\npackage shop.v1;\nmessage Item { string sku = 1; uint32 qty = 2; repeated string tags = 3; }\nservice Shop { rpc Echo(Item) returns (Item); }\n')
    const [mp, pb] = await Promise.all([
      runCli(['fetch', tcp, 'test.echo', '{"k":[1,"x",{"n":null}]}', '-t', 'msgpack']),
      runCli(['fetch', tcp, 'shop.v1.Shop/Echo', '{"sku":"A-1","qty":3,"tags":["x"]}', '-t', 'protobuf', '--proto', proto]),
    ])
    expect(mp.code).toBe(0)
    expect(JSON.parse(mp.stdout)).toEqual({ k: [1, 'x', { n: null }] })
    expect(pb.code).toBe(0)
    expect(JSON.parse(pb.stdout)).toEqual({ sku: 'A-1', qty: 3, tags: ['x'] })
  })

  it('push: serve --log has the push when push exits 0', async () => {
    const run = await runCli(['push', ws, 'chat.note', '{"text":"logged"}'])
    expect([run.code, run.stdout]).toEqual([0, ''])
    await new Promise((r) => setTimeout(r, 200))
    const frames = serve.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(frames).toContainEqual(expect.objectContaining({ direction: 'in', kind: 'push', action: 'chat.note', payload: { text: 'logged' } }))
  })
})
