import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Session } from '../../src/lib/session/index.js'
import { ROOT, type ServeProcess, runCli, startServe } from '../helpers/cli.js'
import { client, json, parse, serve, tempDir, until, writeFile } from './helpers.js'

describe('serve --handler examples/handler.mjs', () => {
  let p: ServeProcess
  beforeAll(async () => {
    p = await startServe(['tcp://127.0.0.1:0', '--handler', join(ROOT, 'examples/handler.mjs')])
  })
  afterAll(async () => {
    await p?.stop()
  })

  it('runs the middleware chain: ctx.input in, ctx.output out as JSON, the outer middleware after next()', async () => {
    const c = await client(p.urls[0])
    const res = await c.request('math.add', json({ a: 2, b: 40 }))
    expect(res.status).toBe(200)
    const body = parse(res.payload) as { sum: number; ms: number }
    expect(body.sum).toBe(42)
    expect(typeof body.ms).toBe('number')
    // The last middleware echoes the bytes of anything else.
    const echo = await c.request('what.ever', Buffer.from('{"x": [1, 2]}'))
    expect(echo.payload.toString()).toBe('{"x": [1, 2]}')
  })

  it('a thrown error is 500 with its message; ctx.throw answers with its status', async () => {
    const c = await client(p.urls[0])
    const fail = await c.request('fail', json(null))
    expect(fail.status).toBe(500)
    expect(fail.payload.toString()).toBe('this handler always fails')
    const bad = await c.request('math.add', json({ a: 'x', b: 1 }))
    expect(bad.status).toBe(400)
    const denied = await c.request('admin.stats', json(null))
    expect(denied.status).toBe(403)
    const admin = await client(p.urls[0], { headers: { 'X-Admin-Key': 'letmein' } })
    const ok = await admin.request('admin.stats', json(null))
    expect(ok.status).toBe(200)
    expect((parse(ok.payload) as { connections: number }).connections).toBeGreaterThanOrEqual(2)
  })

  it('pushes from the handler to the caller and to a room', async () => {
    const [a, b] = await Promise.all([client(p.urls[0]), client(p.urls[0])])
    const got = new Map<Session, unknown[]>([[a, []], [b, []]])
    for (const [s, list] of got) s.onPush = (push) => list.push([push.action, parse(push.payload)])
    const started = await a.request('ticker.start', json(null))
    expect(parse(started.payload)).toMatchObject({ started: true })
    expect(got.get(a)).toEqual([['ticker.tick', { i: 1 }], ['ticker.tick', { i: 2 }], ['ticker.tick', { i: 3 }]])
    await a.request('chat.join', json({ room: 'r1' }))
    await b.request('chat.join', json({ room: 'r1' }))
    const said = await a.request('chat.say', json({ room: 'r1', text: 'yo' }))
    expect(parse(said.payload)).toMatchObject({ sent: 1 })
    await until(() => (got.get(b)?.length ?? 0) === 1, 3000, 'chat push')
    expect((got.get(b) as unknown[])[0]).toEqual(['chat.message', { from: expect.any(Number), text: 'yo' }])
    expect(got.get(a)).toHaveLength(3)
  })
})

describe('serve --handler: TypeScript and bad modules', () => {
  it('loads a .ts module with tsx: types, a middleware array, ctx.status and ctx.body', async () => {
    const dir = tempDir()
    const file = writeFile(dir, 'handler.ts', `
interface Ctx { action: string; input: unknown; status?: number; body: unknown; conn: { id: number } }
type Next = () => Promise<void>

const first = async (ctx: Ctx, next: Next): Promise<void> => {
  await next()
  if (ctx.action === 'created') ctx.status = 201
}
const second = (ctx: Ctx): void => {
  if (ctx.action === 'missing') return
  const input = ctx.input as { name: string }
  ctx.body = { hello: input.name, lang: 'ts' satisfies string }
}

export default [first, second]
`)
    const p = await serve(['tcp://127.0.0.1:0', '--handler', file])
    const c = await client(p.urls[0])
    const res = await c.request('greet', json({ name: 'Ada' }))
    expect(res.status).toBe(200)
    expect(parse(res.payload)).toEqual({ hello: 'Ada', lang: 'ts' })
    expect((await c.request('created', json({ name: 'x' }))).status).toBe(201)
    // Nothing answered: 404, as in Koa.
    expect((await c.request('missing', json({}))).status).toBe(404)
  })

  it('a module that fails to load exits 2 with BAD_HANDLER naming the file', async () => {
    const dir = tempDir()
    const file = writeFile(dir, 'broken.mjs', 'export default (ctx => {\n')
    const r = await runCli(['serve', 'tcp://127.0.0.1:0', '--handler', file, '--json'], { timeout: 30_000 })
    expect(r.code).toBe(2)
    const error = (JSON.parse(r.stdout.trim()) as { error: { code: string; message: string } }).error
    expect(error.code).toBe('BAD_HANDLER')
    expect(error.message).toContain('broken.mjs')
  })
})

describe('handler modules (in process)', () => {
  it('a default export that is not middleware, or a missing file, is BAD_HANDLER', async () => {
    const { loadMiddleware } = await import('../../src/lib/server/handler-module.js')
    const dir = tempDir()
    await expect(loadMiddleware(writeFile(dir, 'n.mjs', 'export default 42\n'))).rejects.toMatchObject({ code: 'BAD_HANDLER' })
    await expect(loadMiddleware(writeFile(dir, 'e.mjs', 'export default []\n'))).rejects.toMatchObject({ code: 'BAD_HANDLER' })
    await expect(loadMiddleware(join(dir, 'none.mjs'))).rejects.toMatchObject({ code: 'BAD_HANDLER' })
    await expect(loadMiddleware(writeFile(dir, 'one.mjs', 'export default (ctx) => { ctx.output = 1 }\n'))).resolves.toHaveLength(1)
  })

  it('compose runs in onion order and refuses a second next()', async () => {
    const { compose } = await import('../../src/lib/server/handler-module.js')
    const order: string[] = []
    const ctx = {} as never
    await compose([
      async (_c, next) => { order.push('a in'); await next(); order.push('a out') },
      async (_c, next) => { order.push('b in'); await next(); order.push('b out') },
    ])(ctx)
    expect(order).toEqual(['a in', 'b in', 'b out', 'a out'])
    await expect(compose([async (_c, next) => { await next(); await next() }])(ctx)).rejects.toThrow(/more than once/)
  })
})
