import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import YAML from 'yaml'
import { compileRoutes, loadRoutes } from '../../src/lib/server/routes.js'
import { compileTemplate } from '../../src/lib/server/template.js'
import type { Session } from '../../src/lib/session/index.js'
import { ROOT, type ServeProcess, runCli, startServe } from '../helpers/cli.js'
import { client, json, parse, serve, tempDir, until, writeFile } from './helpers.js'

const ROUTES = `
greet:
  reply:
    hello: "Hello, {{payload.name}}!"
    auth: "{{headers.authorization}}"
    conn: "{{connection.id}}"
    tags: "{{payload.tags}}"
    first: "{{payload.tags.0}}"
teapot:
  status: 418
  reply: "short and stout, {{payload.name}}"
sometimes.slow:
  delay: { time: 1500ms, every: 3 }
  reply: "{{payload}}"
subscribe:
  push:
    - { action: welcome, payload: { you: "{{connection.id}}" } }
    - { action: second, payload: 2 }
  reply: subscribed
room.join:
  join: "{{payload.room}}"
  reply: { joined: "{{payload.room}}" }
room.say:
  broadcast: { to: "room:{{payload.room}}", action: room.message, payload: "{{payload.text}}" }
  reply: sent
all.say:
  broadcast: { action: news, payload: "{{payload}}", exceptSender: true }
  reply: sent
"chat.*":
  reply: wildcard {{action}}
`

describe('serve --routes', () => {
  let p: ServeProcess
  let dir: string
  beforeAll(async () => {
    dir = tempDir()
    // Started here, not with the per-test helper: one server for the whole describe.
    p = await startServe(['tcp://127.0.0.1:0', '--routes', writeFile(dir, 'routes.yaml', ROUTES)])
  })
  afterAll(async () => {
    await p?.stop()
  })

  it('replies with a template of payload, headers and connection id; a whole placeholder keeps its JSON type', async () => {
    const c = await client(p.urls[0], { headers: { Authorization: 'Bearer abc' } })
    const res = await c.request('greet', json({ name: 'Ada', tags: ['x', 'y'] }))
    expect(res.status).toBe(200)
    const body = parse(res.payload) as Record<string, unknown>
    expect(body).toMatchObject({ hello: 'Hello, Ada!', auth: 'Bearer abc', tags: ['x', 'y'], first: 'x' })
    expect(typeof body.conn).toBe('number')
    // Push to the sender, before the response; the push names the same connection id.
    const pushes: Array<[string, unknown]> = []
    c.onPush = (push) => pushes.push([push.action, parse(push.payload)])
    const sub = await c.request('subscribe', json(null))
    expect(parse(sub.payload)).toBe('subscribed')
    expect(pushes).toEqual([['welcome', { you: body.conn }], ['second', 2]])
  })

  it('answers with the route status and a message text', async () => {
    const c = await client(p.urls[0])
    const res = await c.request('teapot', json({ name: 'pot' }))
    expect(res.status).toBe(418)
    expect(res.payload.toString()).toBe('short and stout, pot')
  })

  it('gives 404 to an action with no route, and matches wildcard keys', async () => {
    const c = await client(p.urls[0])
    const res = await c.request('no.such.action', json(1))
    expect(res.status).toBe(404)
    expect(res.payload.toString()).toContain('no.such.action')
    const wild = await c.request('chat.hello', json(1))
    expect(parse(wild.payload)).toBe('wildcard chat.hello')
  })

  it('delays every 3rd request only', async () => {
    const c = await client(p.urls[0])
    const elapsed: number[] = []
    for (let i = 1; i <= 6; i++) {
      const res = await c.request('sometimes.slow', json(i))
      expect(parse(res.payload)).toBe(i)
      elapsed.push(res.elapsed)
    }
    const slow = elapsed.map((ms) => ms >= 1480)
    expect(slow).toEqual([false, false, true, false, false, true])
  })

  it('joins rooms and broadcasts to exactly the room, or to all but the sender', async () => {
    const [a, b, c] = await Promise.all([client(p.urls[0]), client(p.urls[0]), client(p.urls[0])])
    const got = new Map<Session, string[]>([[a, []], [b, []], [c, []]])
    for (const [s, list] of got) s.onPush = (push) => list.push(`${push.action} ${push.payload.toString()}`)
    expect(parse((await a.request('room.join', json({ room: 'red' }))).payload)).toEqual({ joined: 'red' })
    await b.request('room.join', json({ room: 'red' }))
    await a.request('room.say', json({ room: 'red', text: 'hi red' }))
    // all.say from c reaches a and b but not c; then from a, reaching c: by then anything
    // sent to c before it has arrived (one connection keeps its order).
    await c.request('all.say', json('from c'))
    await a.request('all.say', json('from a'))
    await until(() => got.get(c)?.length === 1 && got.get(b)?.length === 3 && got.get(a)?.length === 2, 3000, 'pushes')
    expect(got.get(a)).toEqual(['room.message "hi red"', 'news "from c"'])
    expect(got.get(b)).toEqual(['room.message "hi red"', 'news "from c"', 'news "from a"'])
    expect(got.get(c)).toEqual(['news "from a"'])
  })
})

describe('serve --routes: fallback and bad files', () => {
  it('sends unknown actions to the "*" route', async () => {
    const dir = tempDir()
    const file = writeFile(dir, 'routes.json', JSON.stringify({ known: { reply: 'k' }, '*': { reply: { fallback: '{{action}}', echo: '{{payload}}' } } }))
    const p = await serve(['tcp://127.0.0.1:0', '--routes', file])
    const c = await client(p.urls[0])
    expect(parse((await c.request('known', json(0))).payload)).toBe('k')
    const res = await c.request('anything.else', json({ n: 1 }))
    expect(res.status).toBe(200)
    expect(parse(res.payload)).toEqual({ fallback: 'anything.else', echo: { n: 1 } })
  })

  it('a malformed routes file exits 2 with BAD_ROUTES naming the route and field', async () => {
    const dir = tempDir()
    const file = writeFile(dir, 'bad.yaml', 'user.get:\n  status: two hundred\n')
    const r = await runCli(['serve', 'tcp://127.0.0.1:0', '--routes', file, '--json'], { timeout: 30_000 })
    expect(r.code).toBe(2)
    const error = (JSON.parse(r.stdout.trim()) as { error: { code: string; message: string } }).error
    expect(error.code).toBe('BAD_ROUTES')
    expect(error.message).toContain('"user.get"')
    expect(error.message).toContain('"status"')
  })
})

describe('routes validation (in process)', () => {
  const codeOf = (doc: unknown): string | undefined => {
    try {
      compileRoutes(doc, 'r.yaml')
      return undefined
    } catch (err) {
      return (err as { code?: string }).code
    }
  }

  it('rejects unknown fields, bad delays, bad statuses, bad templates and bad shapes', () => {
    expect(codeOf({ a: { replly: 1 } })).toBe('BAD_ROUTES')
    expect(codeOf({ a: { delay: 'soon' } })).toBe('BAD_ROUTES')
    expect(codeOf({ a: { delay: { time: '1s', every: 0 } } })).toBe('BAD_ROUTES')
    expect(codeOf({ a: { status: 700 } })).toBe('BAD_ROUTES')
    expect(codeOf({ a: { reply: '{{body.x}}' } })).toBe('BAD_ROUTES')
    // An unclosed placeholder is an error, not literal text (issue 18, point 22).
    expect(codeOf({ a: { reply: 'User {{payload.x' } })).toBe('BAD_ROUTES')
    expect(codeOf({ a: { reply: { name: '{{payload.x' } } })).toBe('BAD_ROUTES')
    expect(codeOf({ a: { reply: '{{payload.x}} and {{id' } })).toBe('BAD_ROUTES')
    expect(codeOf({ a: { push: { payload: 1 } } })).toBe('BAD_ROUTES')
    expect(codeOf({ a: { broadcast: [{ action: 'x', exceptSender: 'yes' }] } })).toBe('BAD_ROUTES')
    expect(codeOf({ a: { close: { code: 5 } } })).toBe('BAD_ROUTES')
    expect(codeOf({ a: { status: 404, reply: { not: 'text' } } })).toBe('BAD_ROUTES')
    expect(codeOf([1, 2])).toBe('BAD_ROUTES')
    expect(codeOf({})).toBe('BAD_ROUTES')
    expect(codeOf({ a: null, b: { status: 201, delay: 5, join: ['x', '{{payload.r}}'] } })).toBeUndefined()
  })

  it('names the route and the field, with the index inside a list', () => {
    expect(() => compileRoutes({ 'x.y': { push: [{ action: 'ok' }, { action: 'a', extra: 1 }] } }, 'r.yaml')).toThrow(/route "x\.y": field "push\[1\]\.extra"/)
  })

  it('an unparsable file or one that is missing is BAD_ROUTES', () => {
    const dir = tempDir()
    expect(() => loadRoutes(writeFile(dir, 'broken.yaml', 'a: [1, 2\n'))).toThrow(expect.objectContaining({ code: 'BAD_ROUTES' }))
    expect(() => loadRoutes(`${dir}/missing.yaml`)).toThrow(expect.objectContaining({ code: 'BAD_ROUTES' }))
    expect(() => loadRoutes(writeFile(dir, 'dup.yaml', 'a: {}\na: {}\n'))).toThrow(expect.objectContaining({ code: 'BAD_ROUTES' }))
  })

  it('templates: whole placeholders keep types, inline ones interpolate, missing values are null or empty', () => {
    const scope = {
      payload: { n: 5, o: { k: [1, 2] } }, headers: { 'x-a': 'h' }, action: 'act', id: 7,
      connection: { id: 3, remote: 'r', url: '/', contentType: 'application/json' },
    }
    expect(compileTemplate('{{payload.n}}')(scope)).toBe(5)
    expect(compileTemplate('{{ payload.o }}')(scope)).toEqual({ k: [1, 2] })
    expect(compileTemplate('n={{payload.n}} o={{payload.o}} h={{headers.X-A}} m={{payload.missing}}')(scope)).toBe('n=5 o={"k":[1,2]} h=h m=')
    expect(compileTemplate('{{payload.missing}}')(scope)).toBeNull()
    expect(compileTemplate({ a: ['{{id}}', '{{connection.id}}', 'lit'] })(scope)).toEqual({ a: [7, 3, 'lit'] })
  })
})

describe('examples/routes.yaml and docs/serve.md', () => {
  it('the example file loads, and the docs show the same routes', () => {
    const file = join(ROOT, 'examples/routes.yaml')
    const table = loadRoutes(file)
    expect(table.fallback).toBeDefined()
    expect(table.exact.get('bench.echo')?.delay).toEqual({ ms: 200, every: 50 })
    const docs = readFileSync(join(ROOT, 'docs/serve.md'), 'utf8')
    const block = /This is \[examples\/routes\.yaml\][^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(docs)?.[1]
    expect(YAML.parse(block ?? '')).toEqual(YAML.parse(readFileSync(file, 'utf8')))
  })
})
