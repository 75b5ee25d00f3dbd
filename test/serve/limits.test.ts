import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect } from '../../src/lib/session/index.js'
import { type ServeProcess, runCli, startServe } from '../helpers/cli.js'
import { client, json, parse, tempDir, writeFile } from './helpers.js'

describe('serve limits: --max-connections --max-frame --max-message --max-in-flight', () => {
  let p: ServeProcess
  beforeAll(async () => {
    const routes = writeFile(tempDir(), 'routes.yaml', 'slow:\n  delay: 400ms\n  reply: "{{payload}}"\n"*":\n  reply: "{{payload}}"\n')
    p = await startServe(['tcp://127.0.0.1:0', '--routes', routes, '--max-connections', '2', '--max-frame', '1k', '--max-message', '1k', '--max-in-flight', '1'])
  })
  afterAll(async () => {
    await p?.stop()
  })

  it('handles one request of a connection at a time with --max-in-flight 1, and refuses a third connection (503)', async () => {
    const c = await client(p.urls[0])
    const first = c.request('slow', json(1))
    const second = c.request('slow', json(2))
    const [r1, r2] = await Promise.all([first, second])
    expect(parse(r1.payload)).toBe(1)
    expect(parse(r2.payload)).toBe(2)
    // The second waited for the first: about two delays.
    expect(r2.elapsed).toBeGreaterThanOrEqual(780)
    const other = await client(p.urls[0])
    await expect(connect(p.urls[0], { timeout: 5000 })).rejects.toMatchObject({ code: 'HANDSHAKE_REFUSED', status: 503 })
    await other.close(1000)
    const again = await client(p.urls[0])
    expect((await again.request('x', json('ok'))).status).toBe(200)
  })

  it('a frame over --max-frame closes the connection with 1009 (or 413 for the request), and the server goes on', async () => {
    const c = await client(p.urls[0])
    const outcome = await c.request('big', json('x'.repeat(2000))).then((r) => r.status, (e: { code: string }) => e.code)
    expect([413, 'TOO_LARGE', 'CONNECTION_CLOSED']).toContain(outcome)
    const info = await c.closed
    expect(info.code).toBe(1009)
    const next = await client(p.urls[0])
    expect((await next.request('small', json('ok'))).status).toBe(200)
  })
})

describe('serve flag checks', () => {
  it('a bad duration is exit 2 with BAD_FLAG', async () => {
    const r = await runCli(['serve', 'tcp://127.0.0.1:0', '--keepalive', 'soon', '--json'], { timeout: 30_000 })
    expect(r.code).toBe(2)
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ error: { code: 'BAD_FLAG' } })
  })
})
