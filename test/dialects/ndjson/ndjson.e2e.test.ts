import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ServeProcess, runCli, startServe } from '../../helpers/cli.js'

/**
 * The ndjson dialect (src/lib/dialects/ndjson/, one folder) through the built CLI: serve, fetch,
 * push, connect, bench; the proof that a dialect needs no edit elsewhere (docs/dialects.md).
 */
describe('--dialect ndjson end to end', () => {
  let serve: ServeProcess
  let tcp: string
  let ws: string

  beforeAll(async () => {
    // One listener named by the flag, one by its URL prefix.
    serve = await startServe(['tcp://127.0.0.1:0', 'ndjson+ws://127.0.0.1:0/rpc', '--dialect', 'ndjson', '--log'], 2)
    ;[tcp, ws] = serve.urls
  }, 30_000)
  afterAll(async () => { await serve?.stop() })

  it('fetch over tcp and ws gets the echo; the server logged the ndjson frames', async () => {
    const a = await runCli(['fetch', '--dialect', 'ndjson', tcp, 'user.get', '{"id":7}'])
    expect(a.stderr).toBe('')
    expect(a.code).toBe(0)
    expect(JSON.parse(a.stdout)).toEqual({ id: 7 })
    const b = await runCli(['fetch', ws.replace(/^ws:/, 'ndjson+ws:'), 'user.get', '[1,2]', '--json'])
    expect(b.code).toBe(0)
    expect(JSON.parse(b.stdout)).toMatchObject({ status: 200, action: 'user.get', payload: [1, 2] })
    const frames = serve.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === 'frame')
    expect(frames.some((f) => f.kind === 'request' && f.action === 'user.get' && JSON.stringify(f.payload) === '{"id":7}')).toBe(true)
  })

  it('push reaches the server; connect in a pipe answers each line', async () => {
    const p = await runCli(['push', '--dialect', 'ndjson', tcp, 'news', '{"n":1}'])
    expect(p.code).toBe(0)
    await new Promise((r) => setTimeout(r, 200))
    expect(serve.stdout()).toMatch(/"kind":"push".*"action":"news"/)
    const c = await runCli(['connect', '--dialect', 'ndjson', tcp], { stdin: '{"action":"a","payload":{"q":1}}\n{"action":"b","payload":2}\n' })
    expect(c.code).toBe(0)
    const lines = c.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.map((l) => [l.action, l.status, l.payload])).toEqual([['a', 200, { q: 1 }], ['b', 200, 2]])
  })

  it('a flag ndjson lacks is BAD_FLAG (exit 2) before dialling; an unknown dialect too', async () => {
    const f = await runCli(['fetch', '--dialect', 'ndjson', '--format', 'text', tcp, 'a'])
    expect(f.code).toBe(2)
    expect(f.stderr).toMatch(/BAD_FLAG: --format has no meaning in NDJSON RPC/)
    const o = await runCli(['fetch', '--dialect', 'ndjson', '-O', 'gzip=1', tcp, 'a'])
    expect(o.code).toBe(2)
    expect(o.stderr).toMatch(/BAD_FLAG: -O gzip/)
    const u = await runCli(['fetch', '--dialect', 'nope', tcp, 'a'])
    expect(u.code).toBe(2)
    expect(u.stderr).toMatch(/BAD_FLAG: unknown dialect "nope" \(one of stmp-v3, .*ndjson/)
  })

  it('stmpcat dialects lists ndjson with what it has', async () => {
    const r = await runCli(['dialects', '--json'])
    expect(r.code).toBe(0)
    const list = JSON.parse(r.stdout) as { name: string; features: string[]; decode: boolean }[]
    expect(list[0].name).toBe('stmp-v3')
    expect(list.find((d) => d.name === 'ndjson')).toMatchObject({ features: ['requests', 'pushes', 'ping'], decode: true })
  })
})

describe('say what the peer said (issue 12 point 5)', () => {
  it('an STMP v3 client answered in another dialect shows the bytes and names the dialect', async () => {
    // A peer that speaks ndjson at once and then hangs up: not STMP v3.
    const server = createServer((socket) => socket.end('{"id":1,"status":200,"payload":null}\n'))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const port = (server.address() as AddressInfo).port
      const r = await runCli(['fetch', `tcp://127.0.0.1:${port}`, 'a', '{}'])
      expect(r.code).not.toBe(0)
      expect(r.stderr).toMatch(/received 37 bytes: "\{\\"id\\":1,\\"status\\":200/)
      expect(r.stderr).toMatch(/hex 7b 22 69 64/)
      expect(r.stderr).toMatch(/looks like NDJSON RPC: try --dialect ndjson/)
      expect(r.stderr).not.toMatch(/1006/)
    } finally {
      server.close()
    }
  })
})
