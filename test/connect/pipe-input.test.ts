import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { StmpServer } from '../../src/lib/session/index.js'
import { type ServeProcess, runCli } from '../helpers/cli.js'
import { liveCli, ndjson, serveWithFile, startServer } from './helpers.js'

// Child processes of the CLI: generous limits for a loaded machine.
const SLOW = { timeout: 120_000 }

/** A handler that, for `go`, asks the client a question and answers with the status it got. */
const ASKING_HANDLER = `export default async function (ctx) {
  if (ctx.action === 'go') {
    const res = await ctx.conn.request('client.ask', { q: 1 })
    ctx.output = { answered: res.status }
    return
  }
  ctx.output = ctx.payload
}
`

const errorOf = (l: Record<string, unknown>) => l.error as { code: string; line?: number } | undefined

describe('connect in a pipe: a reply line never waits for a concurrency slot (issue 18, point 8)', SLOW, () => {
  let serve: ServeProcess
  let url: string
  beforeAll(async () => {
    serve = await serveWithFile('--handler', 'ask.mjs', ASKING_HANDLER)
    url = serve.urls[0]
  })
  afterAll(async () => {
    await serve?.stop()
  })

  it('answers the server request the in-flight request waits on, at the default concurrency 1', async () => {
    // Without the fix the reply line queued behind `go`, which waited on the reply: TIMEOUT.
    const cli = liveCli(['connect', url, '--timeout', '60s'])
    cli.write('{"action":"go","id":"go"}\n')
    const asked = await cli.waitFor((l) => l.kind === 'request')
    expect(asked).toMatchObject({ action: 'client.ask', payload: { q: 1 } })
    expect(asked).not.toHaveProperty('replied')
    cli.write(`${JSON.stringify({ reply: asked.id, status: 200, payload: {} })}\n`)
    cli.end()
    const run = await cli.done
    expect(run.code).toBe(0)
    expect(ndjson(run.stdout)).toContainEqual(expect.objectContaining({ id: 'go', status: 200, payload: { answered: 200 } }))
  })

  it('a reply line read before its request arrived (and behind a queued request) waits for it', async () => {
    const input = ['{"action":"go","id":"go"}', '{"action":"echo","payload":7,"id":"e"}', '{"reply":1,"status":201,"payload":{"ok":true}}'].join('\n')
    const run = await runCli(['connect', url, '--timeout', '60s'], { stdin: `${input}\n`, timeout: 50_000 })
    expect(run.signal).toBeNull()
    expect(run.code).toBe(0)
    const lines = ndjson(run.stdout)
    expect(lines).toContainEqual({ kind: 'request', id: 1, action: 'client.ask', payload: { q: 1 }, replied: 201 })
    expect(lines.filter((l) => l.status !== undefined).map((l) => [l.id, l.payload])).toEqual([['go', { answered: 201 }], ['e', 7]])
  })

  it('with only the request line, the server request gets 503 at the end of input, not after --timeout', async () => {
    // --timeout 60s, killed at 50 s: without the fix the 503 came only once `go` timed out.
    const run = await runCli(['connect', url, '--timeout', '60s'], { stdin: '{"action":"go","id":"go"}\n', timeout: 50_000 })
    expect(run.signal).toBeNull()
    expect(run.code).toBe(0)
    const lines = ndjson(run.stdout)
    expect(lines).toContainEqual({ kind: 'request', id: 1, action: 'client.ask', payload: { q: 1 }, replied: 503 })
    expect(lines).toContainEqual(expect.objectContaining({ id: 'go', status: 200, payload: { answered: 503 } }))
  })
})

describe('connect in a pipe: lines that are not requests are BAD_INPUT, not sent (issue 18, points 9 and 22)', SLOW, () => {
  const servers: StmpServer[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close(100)))
  })

  it('a JSON array, a JSON string and bytes that are not UTF-8 are reported with their line numbers; the rest runs', async () => {
    const actions: string[] = []
    const { server, url } = await startServer({ handler: (r) => {
      actions.push(r.action)
      return { status: 200, payload: r.payload }
    } })
    servers.push(server)
    const stdin = Buffer.concat([
      Buffer.from('[1,2]\n"str"\n'),
      Buffer.from([0xff, 0xfe, 0x0a]),
      // A real U+FFFD (valid UTF-8) is not mistaken for a bad byte.
      Buffer.from('{"action":"echo","payload":"\uFFFD","id":"ok"}\n  [3]\n'),
    ])
    const run = await runCli(['connect', url], { stdin })
    expect(run.code).toBe(2)
    const lines = ndjson(run.stdout)
    expect(lines.filter(errorOf).map((l) => [errorOf(l)?.code, errorOf(l)?.line])).toEqual([['BAD_INPUT', 1], ['BAD_INPUT', 2], ['BAD_INPUT', 3], ['BAD_INPUT', 5]])
    expect(lines.filter(errorOf).every((l) => !('id' in l))).toBe(true)
    expect(lines).toContainEqual(expect.objectContaining({ id: 'ok', status: 200, payload: '\uFFFD' }))
    expect(actions).toEqual(['echo'])
  })

  it('a reply line for no request: the error line names the line and has no id the line did not have', async () => {
    const { server, url } = await startServer()
    servers.push(server)
    const run = await runCli(['connect', url], { stdin: '{"action":"echo","payload":1}\n{"reply":5}\n{"reply":6,"id":"r"}\n' })
    expect(run.code).toBe(2)
    const lines = ndjson(run.stdout)
    expect(lines[0]).toMatchObject({ id: 1, status: 200 })
    expect(lines[1]).toEqual({ error: expect.objectContaining({ code: 'BAD_INPUT', line: 2 }) })
    expect(lines[2]).toEqual({ id: 'r', error: expect.objectContaining({ code: 'BAD_INPUT', line: 3 }) })
  })
})
