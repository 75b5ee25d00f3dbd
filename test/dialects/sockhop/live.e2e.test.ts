import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { writeFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { runCli, spawnCli, startServe, type ServeProcess } from '../../helpers/cli.js'
import { tempDir } from '../../helpers/tmp.js'

/**
 * The sockhop dialect (src/lib/dialects/sockhop/) against the real library, sockhop 1.8.4 from
 * npm: its server answers stmpcat's fetch and push; its client gets its callbacks from
 * `stmpcat serve --dialect sockhop`; a capture of it decodes.
 */
const require = createRequire(import.meta.url)
const Sockhop = require('sockhop') as {
  server: new (o: { port?: number; address?: string; path?: string }) => SockhopServer
  client: new (o: { port?: number; address?: string; path?: string }) => SockhopClient
}
interface SockhopServer {
  on(e: 'receive', f: (data: unknown, meta: { type: string; callback?: (o: unknown) => void }) => void): void
  on(e: 'request', f: (req: { data: unknown; type: string }, res: { write(d: unknown): Promise<unknown>; send(d: unknown): Promise<unknown>; end(): Promise<unknown> }) => void): void
  listen(): Promise<unknown>
  close(): Promise<unknown>
}
interface SockhopClient {
  connect(): Promise<unknown>
  request(o: unknown): Promise<{ all(): Promise<{ data: unknown; type: string }[]> }>
  send(o: unknown, cb?: (data: unknown, meta: { type: string }) => void): Promise<unknown>
  ping(ms: number): void
  disconnect(): Promise<unknown>
  on(e: 'disconnect', f: () => void): void
  on(e: 'receive', f: (data: unknown, meta: { type: string }) => void): void
}

/** Sockhop takes port 0 as its default 50000: a port the OS just handed out instead. */
async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address() as AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

describe('--dialect sockhop against sockhop 1.8.4', () => {
  const closers: (() => Promise<unknown>)[] = []
  afterAll(async () => { for (const c of closers) await c() })

  it('fetch gets the answer of a real Sockhop server\'s callback; push arrives as a send without one', async () => {
    const port = await freePort()
    const server = new Sockhop.server({ port, address: '127.0.0.1' })
    const got: [string, unknown][] = []
    server.on('receive', (data, meta) => {
      if (meta.callback) meta.callback({ ok: true, echo: data })
      else got.push([meta.type, data])
    })
    await server.listen()
    closers.push(() => server.close())
    const f = await runCli(['fetch', '--dialect', 'sockhop', `tcp://127.0.0.1:${port}`, 'Object', '{"q":42}'])
    expect(f.stderr).toBe('')
    expect(f.code).toBe(0)
    expect(JSON.parse(f.stdout)).toEqual({ ok: true, echo: { q: 42 } })
    const p = await runCli(['push', '--dialect', 'sockhop', `tcp://127.0.0.1:${port}`, 'Widget', '{"w":1}'])
    expect(p.stderr).toBe('')
    expect(p.code).toBe(0)
    await new Promise((r) => setTimeout(r, 200))
    expect(got).toEqual([['Widget', { w: 1 }]])
  })

  describe('a real Sockhop client against stmpcat serve --dialect sockhop', () => {
    let serve: ServeProcess
    afterAll(async () => { await serve?.stop() })

    it('gets each callback answered with the echo, and its pings answered (not dropped)', async () => {
      serve = await startServe(['tcp://127.0.0.1:0', '--dialect', 'sockhop'], 1)
      const port = Number(new URL(serve.urls[0]).port)
      const client = new Sockhop.client({ port, address: '127.0.0.1' })
      let dropped = false
      client.on('disconnect', () => { dropped = true })
      await client.connect()
      const answers = await Promise.all([1, 2, 3].map((n) => new Promise<[unknown, string]>((resolve) => {
        void client.send({ n }, (data, meta) => resolve([data, meta.type]))
      })))
      expect(answers).toEqual([[{ n: 1 }, 'Object'], [{ n: 2 }, 'Object'], [{ n: 3 }, 'Object']])
      // Sockhop drops a peer after 4 unanswered pings: at 50 ms that is 200 ms.
      client.ping(50)
      await new Promise((r) => setTimeout(r, 600))
      expect(dropped).toBe(false)
      client.ping(0)
      await client.disconnect()
    })
  })

  it('decode of a Sockhop 1.8.4 capture: every line once, callbacks with their request\'s uuid, no errors', async () => {
    const pcap = fileURLToPath(new URL('../../fixtures/sockhop/sockhop-tcp-echo.pcap', import.meta.url))
    const r = await runCli(['decode', pcap, '--dialect', 'sockhop', '--json'])
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toHaveLength(8)
    expect(lines.every((l) => l.dialect === 'sockhop' && l.error === undefined)).toBe(true)
    const requests = lines.filter((l) => l.kind === 'request')
    const responses = lines.filter((l) => l.kind === 'response')
    // Two sends with a callback and one SockhopRequest stream (answered by its packets).
    expect(requests).toHaveLength(3)
    expect(requests.filter((l) => l.stream === true)).toHaveLength(1)
    expect(responses.map((l) => l.callbackId)).toEqual(requests.map((l) => l.uuid))
    expect(r.stderr).toMatch(/8 frames, 0 errors/)
  })

  /** A real Sockhop server whose every callback answers {ok, echo}. */
  async function echoServer(o: { port?: number; address?: string; path?: string }): Promise<SockhopServer> {
    const server = new Sockhop.server(o)
    server.on('receive', (data, meta) => meta.callback?.({ ok: true, echo: data }))
    await server.listen()
    closers.push(() => server.close())
    return server
  }

  it('over a Unix socket both ways: fetch from a real Sockhop server; a real Sockhop client against serve', async () => {
    const dir = tempDir('stmpcat-sockhop-unix-')
    await echoServer({ path: join(dir, 'real.sock') })
    const f = await runCli(['fetch', '--dialect', 'sockhop', `unix:${join(dir, 'real.sock')}`, 'Object', '{"q":7}'])
    expect(f.stderr).toBe('')
    expect(f.code).toBe(0)
    expect(JSON.parse(f.stdout)).toEqual({ ok: true, echo: { q: 7 } })
    const serve = await startServe([`unix:${join(dir, 'serve.sock')}`, '--dialect', 'sockhop'], 1)
    try {
      const client = new Sockhop.client({ path: join(dir, 'serve.sock') })
      await client.connect()
      const answer = await new Promise<unknown>((resolve) => { void client.send(['x', 1], (data) => resolve(data)) })
      expect(answer).toEqual(['x', 1])
      await client.disconnect()
    } finally {
      await serve.stop()
    }
  })

  it('connect --reconnect against a real Sockhop server that restarts: the line after the restart is answered by the new one', async () => {
    const port = await freePort()
    const first = await echoServer({ port, address: '127.0.0.1' })
    const child = spawnCli(['connect', '--dialect', 'sockhop', `tcp://127.0.0.1:${port}`, '--reconnect', '--reconnect-delay', '50ms'])
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
    const until = async (re: RegExp) => {
      const deadline = Date.now() + 8000
      while (!re.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
    }
    child.stdin.write('{"action":"Object","payload":{"n":1}}\n')
    await until(/"n":1/)
    await first.close()
    await until(/"kind":"disconnect"/)
    const second = new Sockhop.server({ port, address: '127.0.0.1' })
    second.on('receive', (data, meta) => meta.callback?.({ second: true, echo: data }))
    await second.listen()
    closers.push(() => second.close())
    await until(/"kind":"connect"/)
    child.stdin.end('{"action":"Object","payload":{"n":2}}\n')
    expect(await exited).toBe(0)
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.filter((l) => l.status === 200).map((l) => l.payload)).toEqual([{ ok: true, echo: { n: 1 } }, { second: true, echo: { n: 2 } }])
    expect(lines.map((l) => l.kind).filter(Boolean)).toEqual(expect.arrayContaining(['disconnect', 'connect']))
  })

  it('bench against a real Sockhop server: every callback answered, no errors', async () => {
    const port = await freePort()
    await echoServer({ port, address: '127.0.0.1' })
    const r = await runCli(['bench', '--dialect', 'sockhop', `tcp://127.0.0.1:${port}`, '-d', '1s', '-c', '4', '--json'])
    expect(r.code).toBe(0)
    const result = JSON.parse(r.stdout) as { totals: { sent: number; responses: number; ok: number; errors: number }; passed: boolean }
    expect(result.totals.responses).toBeGreaterThan(100)
    expect(result.totals.ok).toBe(result.totals.responses)
    expect(result.totals.errors).toBe(0)
    expect(result.passed).toBe(true)
  })

  it('SockhopRequest streams both ways: fetch -O stream=1 gets a real server\'s packets; a real client\'s request() is answered by serve', async () => {
    const port = await freePort()
    const server = new Sockhop.server({ port, address: '127.0.0.1' })
    server.on('request', (req, res) => {
      const d = req.data as { parts?: number }
      if (d.parts === undefined) void res.send({ one: true, echo: req.data })
      else void (async () => { for (let i = 1; i <= d.parts!; i++) await res.write({ part: i }); await res.end() })()
    })
    await server.listen()
    closers.push(() => server.close())
    const one = await runCli(['fetch', '--dialect', 'sockhop', '-O', 'stream=1', `tcp://127.0.0.1:${port}`, 'Object', '{"q":1}'])
    expect(one.stderr).toBe('')
    expect(JSON.parse(one.stdout)).toEqual({ one: true, echo: { q: 1 } })
    const three = await runCli(['fetch', '--dialect', 'sockhop', '-O', 'stream=1', `tcp://127.0.0.1:${port}`, 'Object', '{"parts":2}', '--json'])
    expect(three.code).toBe(0)
    // What Sockhop's own stream.all() gives: every packet's data, the {} of end() included.
    expect(JSON.parse(three.stdout)).toMatchObject({ status: 200, payload: [{ part: 1 }, { part: 2 }, {}] })

    const serve = await startServe(['tcp://127.0.0.1:0', '--dialect', 'sockhop'], 1)
    try {
      const client = new Sockhop.client({ port: Number(new URL(serve.urls[0]).port), address: '127.0.0.1' })
      await client.connect()
      const stream = await client.request({ q: 2 })
      expect(await stream.all()).toEqual([{ data: { q: 2 }, type: 'Object' }])
      await client.disconnect()
    } finally {
      await serve.stop()
    }
  })

  it('serve --routes answers by type; a line on serve\'s stdin reaches every real Sockhop client (sendall)', async () => {
    const dir = tempDir('stmpcat-sockhop-routes-')
    const routes = join(dir, 'routes.yaml')
    writeFileSync(routes, ['Widget: { reply: { widget: "{{payload.w}}" } }', 'Gadget: { status: 404 }'].join('\n'))
    const serve = await startServe(['tcp://127.0.0.1:0', '--dialect', 'sockhop', '--routes', routes], 1)
    try {
      const port = Number(new URL(serve.urls[0]).port)
      const clients = [new Sockhop.client({ port, address: '127.0.0.1' }), new Sockhop.client({ port, address: '127.0.0.1' })]
      const received: [number, string, unknown][] = []
      clients.forEach((c, i) => c.on('receive', (data, meta) => received.push([i, meta.type, data])))
      for (const c of clients) await c.connect()
      // Sockhop's type is the constructor's name: a Widget is sent as {"type":"Widget",...}.
      class Widget { constructor(readonly w: number) {} }
      const answer = await new Promise<unknown>((resolve) => { void clients[0].send(new Widget(5), (data) => resolve(data)) })
      expect(answer).toEqual({ widget: 5 })
      serve.child.stdin.write('{"wait":2}\n{"action":"Notice","payload":{"n":1}}\n')
      const deadline = Date.now() + 5000
      while (received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25))
      expect(received.sort()).toEqual([[0, 'Notice', { n: 1 }], [1, 'Notice', { n: 1 }]])
      for (const c of clients) await c.disconnect()
    } finally {
      await serve.stop()
    }
  })
})
