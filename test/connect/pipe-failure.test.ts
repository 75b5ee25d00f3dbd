import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { StmpServer } from '../../src/lib/session/index.js'
import { ROOT, type ServeProcess, runCli, startServe } from '../helpers/cli.js'
import { freePort, ndjson, startServer } from './helpers.js'

// Child processes of the CLI: generous limits for a loaded machine.
const SLOW = { timeout: 180_000 }
const ROUTES = join(ROOT, 'examples/routes.yaml')

const codeOf = (l: Record<string, unknown>) => (l.error as { code: string } | undefined)?.code

describe('connect follows the error conventions (issue 18, point 10)', SLOW, () => {
  it('a bad URL is BAD_URL, exit 2: the --json envelope on stdout, CODE: message on stderr without it', async () => {
    const json = await runCli(['connect', 'bad://x', '--json'], { stdin: '{"action":"a"}\n' })
    expect(json.code).toBe(2)
    expect(json.stderr).toBe('')
    expect(ndjson(json.stdout)).toEqual([{ error: expect.objectContaining({ code: 'BAD_URL' }) }])
    const plain = await runCli(['connect', 'bad://x'], { stdin: '{"action":"a"}\n' })
    expect(plain.code).toBe(2)
    expect(plain.stdout).toBe('')
    expect(plain.stderr).toMatch(/^stmpcat: BAD_URL: /)
  })

  it('a refused connection without --reconnect reports every line already written as failed, exit 3', async () => {
    const port = await freePort()
    const run = await runCli(['connect', `tcp://127.0.0.1:${port}`], { stdin: '{"action":"a","id":"x"}\nb 1\n{"push":true,"action":"p"}\n' })
    expect(run.code).toBe(3)
    const lines = ndjson(run.stdout)
    expect(lines).toEqual([
      { id: 'x', action: 'a', error: expect.objectContaining({ code: 'CONNECT_FAILED' }) },
      { id: 2, action: 'b', error: expect.objectContaining({ code: 'CONNECT_FAILED' }) },
      { action: 'p', error: expect.objectContaining({ code: 'CONNECT_FAILED', line: 3 }) },
    ])
    expect(run.stderr).toMatch(/^stmpcat: CONNECT_FAILED: /m)
    const json = await runCli(['connect', `tcp://127.0.0.1:${port}`, '--json'], { stdin: '{"action":"a"}\n' })
    expect(json.code).toBe(3)
    expect(ndjson(json.stdout).map(codeOf)).toEqual(['CONNECT_FAILED', 'CONNECT_FAILED'])
    expect(ndjson(json.stdout)[1]).toEqual({ error: expect.objectContaining({ code: 'CONNECT_FAILED' }) })
  })
})

describe('connect when the server closes with lines queued (issue 18, point 17)', SLOW, () => {
  let routes: ServeProcess
  let small: ServeProcess
  beforeAll(async () => {
    routes = await startServe(['tcp://127.0.0.1:0', '--routes', ROUTES]).catch(() => startServe(['tcp://127.0.0.1:0', '--routes', ROUTES]))
    small = await startServe(['tcp://127.0.0.1:0', '--routes', ROUTES, '--max-frame', '1k']).catch(() => startServe(['tcp://127.0.0.1:0', '--routes', ROUTES, '--max-frame', '1k']))
  })
  afterAll(async () => {
    await routes?.stop()
    await small?.stop()
  })

  it('after a 413 and Close 1009 (--max-frame 1k), the queued line is reported with the Close\'s cause and connect exits 5', async () => {
    // Without the fix this spun at 100% CPU printing nothing (killed here after 40 s).
    const big = JSON.stringify({ action: 'echo', payload: 'x'.repeat(5000) })
    const run = await runCli(['connect', small.urls[0]], { stdin: `${big}\n{"action":"after.close"}\n`, timeout: 40_000 })
    expect(run.signal).toBeNull()
    // The server closed for a protocol error of ours (1009 TOO_LARGE): exit 5, as fetch (point 19).
    expect(run.code).toBe(5)
    const lines = ndjson(run.stdout)
    expect(lines).toHaveLength(2)
    expect(lines[0]).toMatchObject({ id: 1, status: 413 })
    expect(lines[1]).toMatchObject({ id: 2, action: 'after.close', error: { code: 'TOO_LARGE' } })
  })

  it('session.end then a queued line, five runs: every run prints "bye" and a failure for the second line, exit 3', async () => {
    for (let i = 0; i < 5; i++) {
      const run = await runCli(['connect', routes.urls[0]], { stdin: '{"action":"session.end"}\n{"action":"after.close"}\n', timeout: 40_000 })
      expect(run.signal, `run ${i + 1}`).toBeNull()
      expect(run.code, `run ${i + 1}`).toBe(3)
      const lines = ndjson(run.stdout)
      expect(lines[0], `run ${i + 1}`).toMatchObject({ id: 1, status: 200, payload: 'bye' })
      expect(lines[1], `run ${i + 1}`).toMatchObject({ id: 2, error: { code: 'CONNECTION_CLOSED' } })
      expect(lines, `run ${i + 1}`).toHaveLength(2)
    }
  })
})

describe('a request that crosses the server\'s Close is not answered (issue 18, point 17)', SLOW, () => {
  const servers: StmpServer[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close(100)))
  })

  it('the server runs no request that came after its Close; the client reports it failed', async () => {
    const ran: string[] = []
    const { server, url } = await startServer({ handler: (r, session) => {
      ran.push(r.action)
      if (r.action === 'bye') {
        // Answer, then Close at once: the next request, in the same read, comes after it.
        r.respond(200, Buffer.from('"bye"'))
        void session.close(1000, 'bye')
      }
      return { status: 200, payload: r.payload }
    } })
    servers.push(server)
    // -c 2: both requests leave in one write, so the server reads them together.
    const run = await runCli(['connect', url, '-c', '2'], { stdin: '{"action":"bye","id":"bye"}\n{"action":"after","id":"after"}\n', timeout: 40_000 })
    expect(run.signal).toBeNull()
    const lines = ndjson(run.stdout)
    expect(lines).toContainEqual(expect.objectContaining({ id: 'bye', status: 200, payload: 'bye' }))
    expect(lines).toContainEqual(expect.objectContaining({ id: 'after', error: expect.objectContaining({ code: 'CONNECTION_CLOSED' }) }))
    expect(ran).toEqual(['bye'])
    expect(run.code).toBe(3)
  })
})
