import { afterEach, describe, expect, it } from 'vitest'
import { MAX_RECONNECT_FAILURES } from '../../src/lib/bench/load.js'
import { runBench, type BenchSettings } from '../../src/lib/bench/run.js'
import { buildResult } from '../../src/lib/bench/result.js'
import { StmpError } from '../../src/lib/errors.js'
import { StmpServer, echoHandler } from '../../src/lib/session/server.js'
import { parseAddress } from '../../src/lib/transport/index.js'
import { tempDir, testCertificate } from '../fetch/helpers.js'
import { deadPort, every50thDelayed, startServer } from './helpers.js'

/**
 * The load runner in this process (workers: 1) against a real StmpServer on 127.0.0.1:
 * accounting (every request gets a response or a counted error), the open model's
 * intended-time latency, timeouts, resets, connect failures.
 */

function settings(target: string, over: Partial<BenchSettings> = {}): BenchSettings {
  return {
    target, connections: 2, pipelining: 1, durationMs: 500, amount: null, rate: null, warmupMs: 0, timeoutMs: 2000,
    connectTimeoutMs: 2000, action: 'test.echo', payload: Buffer.from('{"a":1}'), contentType: 'application/json',
    format: 'binary', serverLatency: false, tls: { ca: [], insecure: false }, headers: {}, push: false, workers: 1,
    dialect: 'stmp-v3', dialectOptions: {}, dialectFlags: [], ...over,
  }
}

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.()
})

async function server(...args: Parameters<typeof startServer>) {
  const s = await startServer(...args)
  closers.push(s.close)
  return s
}

describe('bench load runner', () => {
  it('another dialect goes through its Wire: ndjson against a StmpServer in ndjson, every request answered', async () => {
    const echo = new StmpServer({ dialect: 'ndjson', handler: echoHandler })
    const listener = await echo.listen(parseAddress('tcp://127.0.0.1:0', { listening: true }))
    closers.push(() => echo.close(100))
    const run = await runBench(settings(`tcp://127.0.0.1:${listener.address.port}`, { dialect: 'ndjson', amount: 2000, durationMs: null, pipelining: 4 }))
    const r = buildResult(run, 'test')
    expect(r.settings.dialect).toBe('ndjson')
    expect(r.totals.sent).toBe(2000)
    expect(r.totals.responses).toBe(2000)
    expect(r.totals.errors).toBe(0)
    expect(run.histogram.totalCount).toBe(2000)
    // ndjson lines: {"id":N,"action":"test.echo","payload":{"a":1}}\n is more than 40 bytes each.
    expect(r.totals.bytesOut).toBeGreaterThan(2000 * 40)
  })

  it('closed model: every request is answered, one latency per response, bytes counted', async () => {
    const { url } = await server()
    const run = await runBench(settings(url, { connections: 3, pipelining: 4 }))
    const r = buildResult(run, 'test')
    expect(r.totals.sent).toBeGreaterThan(100)
    expect(r.totals.sent).toBe(r.totals.responses + r.totals.errors)
    expect(r.totals.errors).toBe(0)
    expect(r.latency.samples).toBe(r.totals.responses)
    expect(r.totals.ok).toBe(r.totals.responses)
    // Request: LENGTH(1) head(1) id(2) "test.echo\n"(10) payload(7); response: LENGTH(1) head id status payload.
    expect(r.totals.bytesOut).toBe(r.totals.sent * 21)
    expect(r.totals.bytesIn).toBeGreaterThanOrEqual(r.totals.responses * 13)
    expect(r.latency.p50).toBeGreaterThan(0)
    expect(r.latency.p50).toBeLessThan(r.latency.max + 0.001)
  })

  it('a run longer than the connect timeout keeps its connections (the handshake timer is cleared)', async () => {
    const { url } = await server()
    const run = await runBench(settings(url, { durationMs: 900, connectTimeoutMs: 300, pipelining: 2 }))
    const r = buildResult(run, 'test')
    expect(r.totals.sent).toBeGreaterThan(100)
    expect(r.errors.byKind.reset).toBe(0)
    expect(r.totals.errors).toBe(0)
  })

  it('--amount sends exactly that many measured requests, warm-up excluded', async () => {
    const { url } = await server()
    const run = await runBench(settings(url, { durationMs: null, amount: 333, warmupMs: 200, pipelining: 3 }))
    expect(run.totals.sent).toBe(333)
    expect(run.totals.responses).toBe(333)
    expect(run.histogram.totalCount).toBe(333)
  })

  it('open model: a stalled request delays those queued behind it, measured from intended time', async () => {
    const { url } = await server(every50thDelayed())
    const run = await runBench(settings(url, { connections: 1, rate: 100, durationMs: 1000 }))
    const r = buildResult(run, 'test')
    expect(r.latency.samples).toBe(r.totals.responses)
    expect(r.totals.sent).toBe(r.totals.responses + r.totals.errors)
    expect(r.totals.sent).toBeGreaterThanOrEqual(95)
    expect(r.totals.sent).toBeLessThanOrEqual(101)
    expect(r.latency.p99).toBeGreaterThanOrEqual(150)
  })

  it('requests with no answer are timeout errors, not lost', async () => {
    const { url } = await server(() => new Promise(() => undefined))
    const run = await runBench(settings(url, { timeoutMs: 100, durationMs: 300, pipelining: 2 }))
    expect(run.totals.responses).toBe(0)
    expect(run.kinds.timeout).toBe(run.totals.sent)
    expect(run.kinds.timeout).toBeGreaterThan(0)
  })

  it('a response after --timeout is a timeout, counted late, never a success (swept first, or answered before the sweep)', async () => {
    // Answers at 150 ms against a 100 ms timeout: the sweep (every 10 ms) times each request out, then its answer comes.
    const { url } = await server((request) => new Promise((r) => setTimeout(() => r({ status: 200, payload: request.payload }), 150)))
    const run = await runBench(settings(url, { timeoutMs: 100, durationMs: 600, pipelining: 2 }))
    expect(run.totals.responses).toBe(0)
    expect(run.histogram.totalCount).toBe(0)
    expect(run.kinds.timeout).toBe(run.totals.sent)
    expect(run.totals.late).toBeGreaterThan(0)
    expect(run.totals.late).toBeLessThanOrEqual(run.kinds.timeout)
    // Open model with a backlog: requests go out after their due time + timeout and are answered at
    // once. The rate is far past what one connection sends (about 100,000/s on the project machine,
    // idle): 50,000/s was kept up with on a quiet run, so no backlog and nothing late.
    const RATE = 400_000
    const { url: fast } = await server()
    const open = await runBench(settings(fast, { connections: 1, rate: RATE, durationMs: 1000, timeoutMs: 100 }))
    const r = buildResult(open, 'test')
    expect(r.totals.sent).toBeLessThan(RATE)
    expect(r.totals.late).toBeGreaterThan(0)
    expect(r.latency.max).toBeLessThanOrEqual(100.1)
    expect(r.totals.due).toBe(RATE)
    expect(r.totals.unsent).toBe(RATE - r.totals.sent)
    expect(r.totals.sent).toBe(r.totals.responses + r.totals.errors)
    expect(r.errors.rate).toBeCloseTo((RATE - r.totals.ok) / RATE, 5)
  })

  it('interrupt(): sending stops, what is in flight past the grace time is cancelled, the run resolves', async () => {
    const { url } = await server(() => new Promise(() => undefined))
    const controller = new AbortController()
    const running = runBench(settings(url, { durationMs: 60_000, pipelining: 3 }), { onStart: () => setTimeout(() => controller.abort(), 100) }, controller.signal)
    const run = await running
    expect(run.interrupted).toBe(true)
    expect(run.totals.sent).toBe(6)
    expect(run.kinds.cancelled).toBe(6)
    const before = new AbortController()
    before.abort()
    expect(((await runBench(settings(url), {}, before.signal).catch((e: unknown) => e)) as StmpError).code).toBe('INTERRUPTED')
  })

  it('in-flight requests on a connection the server drops count as reset', async () => {
    let n = 0
    const { url } = await server((request, session) => {
      if (++n % 20 === 0) {
        session.transport.destroy()
        return new Promise(() => undefined)
      }
      return { status: 200, payload: request.payload }
    })
    const run = await runBench(settings(url, { durationMs: 600, pipelining: 2 }))
    expect(run.kinds.reset).toBeGreaterThan(0)
    expect(run.totals.sent).toBe(run.totals.responses + run.kinds.reset + run.kinds.timeout + run.kinds.protocol)
  })

  it('non-2xx responses are counted by status', async () => {
    let n = 0
    const { url } = await server(() => ({ status: ++n % 2 === 0 ? 503 : 200 }))
    const run = await runBench(settings(url, { durationMs: null, amount: 100 }))
    const r = buildResult(run, 'test')
    expect(r.errors.byStatus['503']).toBe(50)
    expect(r.totals.ok).toBe(50)
    expect(r.errors.rate).toBe(0.5)
  })

  it('WebSocket text format, Push counting', async () => {
    const { url } = await server(undefined, 'ws')
    const run = await runBench(settings(url, { format: 'text', durationMs: null, amount: 200 }))
    expect(run.totals.ok).toBe(200)
    const push = await runBench(settings(url, { push: true, durationMs: 300 }))
    expect(push.totals.pushesSent).toBeGreaterThan(0)
    expect(push.totals.sent).toBe(push.totals.pushesSent)
  })

  it('an unreachable target is CONNECT_FAILED (exit 3)', async () => {
    const port = await deadPort()
    const err = await runBench(settings(`tcp://127.0.0.1:${port}`)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StmpError)
    expect((err as StmpError).code).toBe('CONNECT_FAILED')
    expect((err as StmpError).exitCode).toBe(3)
  })

  it('a refused handshake is HANDSHAKE_REFUSED (exit 3) with its status; the token is sent on both transports', async () => {
    for (const scheme of ['tcp', 'ws'] as const) {
      const { url } = await server(undefined, scheme, 'secret')
      const err = await runBench(settings(url)).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(StmpError)
      expect((err as StmpError).code).toBe('HANDSHAKE_REFUSED')
      expect((err as StmpError).status).toBe(401)
      expect((err as StmpError).exitCode).toBe(3)
      const ok = await runBench(settings(url, { headers: { Authorization: 'Bearer secret' }, durationMs: null, amount: 20 }))
      expect(ok.totals.ok).toBe(20)
    }
  })

  it('a target that goes away ends an --amount run (bounded redials) instead of hanging', async () => {
    const s = await startServer()
    const running = runBench(settings(s.url, { durationMs: null, amount: 1e9 }))
    await new Promise((r) => setTimeout(r, 300))
    await s.close()
    const run = await running
    expect(run.totals.sent).toBeGreaterThan(0)
    expect(run.totals.sent).toBeLessThan(1e9)
    expect(run.totals.sent).toBe(run.totals.responses + run.kinds.reset + run.kinds.timeout + run.kinds.protocol)
    expect(run.kinds.refused).toBeGreaterThanOrEqual(2 * MAX_RECONNECT_FAILURES)
    // Said, not hidden: the run ended early with both connections lost.
    expect(run.endedEarly).toBe(true)
    expect(run.totals.connectionsLost).toBe(2)
    expect(buildResult(run, 'test').end).toEqual({ reason: 'connections-lost', early: true, connectionsLost: 2 })
  })

  it('tls with --ca (and -k), and --server-latency (7-byte response heads)', async () => {
    const cert = testCertificate(tempDir())
    const server = new StmpServer({ tls: { cert: cert.cert, key: cert.key } })
    const listener = await server.listen(parseAddress('tls://127.0.0.1:0', { listening: true }))
    closers.push(() => server.close(200))
    const url = `tls://127.0.0.1:${listener.address.port}`
    const trusted = await runBench(settings(url, { tls: { ca: [cert.cert.toString()], insecure: false }, serverLatency: true, durationMs: null, amount: 50 }))
    expect(trusted.totals.ok).toBe(50)
    // 7-byte heads with the latency field: LENGTH(1) head(1) id(2) status(2) latency(2) + 7-byte payload.
    expect(trusted.totals.bytesIn).toBe(50 * 15)
    const insecure = await runBench(settings(url, { tls: { ca: [], insecure: true }, durationMs: null, amount: 10 }))
    expect(insecure.totals.ok).toBe(10)
    const untrusted = await runBench(settings(url, { durationMs: null, amount: 10 })).catch((e: unknown) => e)
    expect((untrusted as StmpError).code).toBe('CONNECT_FAILED')
  })

  it('responses mixed with pushes, and responses too long for the fast path, are all counted', async () => {
    const { url } = await server((request, session) => {
      session.push('tick', Buffer.from('{}'))
      return { status: 200, payload: request.payload }
    })
    const small = await runBench(settings(url, { durationMs: null, amount: 300, pipelining: 4 }))
    expect(small.totals.ok).toBe(300)
    expect(small.totals.pushesReceived).toBeGreaterThanOrEqual(290)
    const big = await runBench(settings(url, { durationMs: null, amount: 300, pipelining: 4, payload: Buffer.from(JSON.stringify('x'.repeat(3000))) }))
    expect(big.totals.ok).toBe(300)
    expect(big.histogram.totalCount).toBe(300)
  })
})
