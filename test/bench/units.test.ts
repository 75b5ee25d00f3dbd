import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compareBlock, compareResults, loadPrevious } from '../../src/lib/bench/compare.js'
import { evaluateGates } from '../../src/lib/bench/gates.js'
import { clampMicros, decodeHistogram, encodeHistogram, latencyBins, latencyHistogram, summarizeLatency } from '../../src/lib/bench/histogram.js'
import { resolveSettings, sizedPayload, type BenchFlags } from '../../src/lib/bench/options.js'
import { stderrChalk } from '../../src/lib/bench/report.js'
import type { BenchResult } from '../../src/lib/bench/result.js'
import { plansFor, split } from '../../src/lib/bench/run.js'
import { StmpError } from '../../src/lib/errors.js'
import { getPayloadCodec } from '../../src/lib/payload/index.js'
import { tempDir } from '../helpers/tmp.js'

const flags = (over: Partial<BenchFlags> = {}): BenchFlags => ({
  connections: 10, pipelining: 1, action: 'test.echo', push: false, workers: 1, timeout: '10s', 'content-type': 'json', format: 'binary', 'server-latency': false, insecure: false, ...over,
})

async function code(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(() => undefined, (e: unknown) => (e instanceof StmpError ? e.code : 'not a StmpError'))
}

/** A result as buildResult makes it, with the figures a test sets. */
function result(over: { p99?: number; samples?: number; rate?: number; rps?: number } = {}): BenchResult {
  return {
    latency: { p50: 1, p75: 1, p90: 1, p99: over.p99 ?? 2, p99_9: 3, p99_99: 3, min: 0.5, max: 4, mean: 1.2, stdev: 0.3, samples: over.samples ?? 100 },
    requestsPerSecond: { mean: over.rps ?? 1000, stdev: 0, min: 1000, max: 1000, samples: 1, overall: 1000 },
    errors: { rate: over.rate ?? 0, byStatus: {}, byKind: { timeout: 0, refused: 0, reset: 0, protocol: 0 } },
  } as unknown as BenchResult
}

describe('bench flags', () => {
  it('defaults: 10 s unless --amount; -d is the duration', async () => {
    expect((await resolveSettings(undefined, flags())).settings.durationMs).toBe(10_000)
    expect((await resolveSettings(undefined, flags({ amount: 5 }))).settings.durationMs).toBeNull()
    const s = (await resolveSettings('tcp://127.0.0.1:1', flags({ duration: '2s', amount: 5, warmup: '500ms' }))).settings
    expect([s.durationMs, s.amount, s.warmupMs, s.target]).toEqual([2000, 5, 500, 'tcp://127.0.0.1:1'])
  })

  it('every limit is a coded usage error', async () => {
    expect(await code(resolveSettings(undefined, flags({ connections: 0 })))).toBe('BAD_FLAG')
    expect(await code(resolveSettings(undefined, flags({ connections: 10_001 })))).toBe('BAD_FLAG')
    expect(await code(resolveSettings(undefined, flags({ pipelining: 4097 })))).toBe('BAD_FLAG')
    expect(await code(resolveSettings(undefined, flags({ workers: 11 })))).toBe('BAD_FLAG')
    expect(await code(resolveSettings(undefined, flags({ timeout: '61s' })))).toBe('BAD_FLAG')
    expect(await code(resolveSettings(undefined, flags({ duration: 'soon' })))).toBe('BAD_FLAG')
    expect(await code(resolveSettings(undefined, flags({ rate: 0 })))).toBe('BAD_FLAG')
    expect(await code(resolveSettings(undefined, flags({ push: true, rate: 10 })))).toBe('BAD_FLAG')
    expect(await code(resolveSettings(undefined, flags({ 'max-error-rate': 2 })))).toBe('BAD_FLAG')
    expect(await code(resolveSettings(undefined, flags({ 'payload-size': '17m' })))).toBe('BAD_FLAG')
    expect(await code(resolveSettings(undefined, flags({ data: 'x', 'payload-size': '1' })))).toBe('BAD_FLAG')
    expect(await code(resolveSettings(undefined, flags({ 'content-type': 'nope' })))).toBe('BAD_FLAG')
    expect(await code(resolveSettings(undefined, flags({ data: '{bad json' })))).toMatch(/BAD_/)
    expect(await code(resolveSettings(undefined, flags({ data: '@/nonexistent/file' })))).toBe('BAD_FILE')
  })

  it('--data @file, --token and -H reach the settings', async () => {
    const dir = tempDir('stmpcat-bench-')
    writeFileSync(join(dir, 'req.json'), '{"n": 1}')
    const s = (await resolveSettings(undefined, flags({ data: `@${join(dir, 'req.json')}`, token: 't0k', header: ['X-A: 1'] }))).settings
    expect(JSON.parse(s.payload.toString())).toEqual({ n: 1 })
    expect(s.headers).toEqual({ 'X-A': '1' })
    // The dialect sends the token its own way (stmp-v3: Authorization: Bearer, in the handshake).
    expect(s.token).toBe('t0k')
    expect(s.contentType).toBe('application/json')
  })

  it('--payload-size gives exactly that many bytes, valid in the content type', () => {
    const ctx = { action: 'a', role: 'request' as const }
    for (const size of [2, 100, 4096]) {
      const json = sizedPayload(getPayloadCodec('json'), size, ctx)
      expect(json.length).toBe(size)
      expect(typeof JSON.parse(json.toString())).toBe('string')
    }
    for (const size of [1, 31, 32, 33, 255, 256, 258, 70_000]) {
      const codec = getPayloadCodec('msgpack')
      let bytes: Buffer
      try {
        bytes = sizedPayload(codec, size, ctx)
      } catch (err) {
        // Only sizes no msgpack string can have (e.g. 33: 32 chars need a 2-byte header).
        expect((err as StmpError).code).toBe('BAD_FLAG')
        continue
      }
      expect(bytes.length).toBe(size)
      expect(typeof codec.decode(bytes, ctx)).toBe('string')
    }
    expect(sizedPayload(getPayloadCodec('raw'), 7, ctx)).toEqual(Buffer.alloc(7, 'x'))
    expect(() => sizedPayload(getPayloadCodec('json'), 1, ctx)).toThrow(StmpError)
  })
})

describe('bench workers split', () => {
  it('connections, --amount and --rate are split so the totals are exact', () => {
    expect(split(10, [1, 1, 1])).toEqual([4, 3, 3])
    expect(split(7, [4, 3])).toEqual([4, 3])
    const plans = plansFor({
      target: null, connections: 5, pipelining: 1, durationMs: null, amount: 1001, rate: 500, warmupMs: 0, timeoutMs: 1000,
      connectTimeoutMs: 1000, action: 'a', payload: Buffer.alloc(0), contentType: 'application/json', format: 'binary', serverLatency: false, tls: { ca: [], insecure: false }, headers: {}, push: false, workers: 2,
      dialect: 'stmp-v3', dialectOptions: {}, dialectFlags: [],
    }, 'tcp://127.0.0.1:1')
    expect(plans.map((p) => p.connections)).toEqual([3, 2])
    expect(plans.reduce((a, p) => a + (p.amount ?? 0), 0)).toBe(1001)
    expect(plans.reduce((a, p) => a + (p.rate ?? 0), 0)).toBe(500)
  })
})

describe('bench histograms', () => {
  it('microseconds from 1 us; encoded, decoded and merged without loss', () => {
    expect(clampMicros(0.2)).toBe(1)
    expect(clampMicros(123.4)).toBe(123)
    expect(clampMicros(1e12)).toBe(60_000_000)
    const a = latencyHistogram()
    const b = latencyHistogram()
    for (let i = 1; i <= 1000; i++) a.recordValue(i)
    b.recordValue(200_000)
    const merged = latencyHistogram()
    merged.add(decodeHistogram(encodeHistogram(a)))
    merged.add(decodeHistogram(encodeHistogram(b)))
    const s = summarizeLatency(merged)
    expect(s.samples).toBe(1001)
    expect(s.p50).toBeCloseTo(0.5, 2)
    expect(s.max).toBeCloseTo(200, 0)
    expect(s.min).toBe(0.001)
    const bins = latencyBins(merged, 8)
    expect(bins.reduce((n, bin) => n + bin.count, 0)).toBe(1001)
  })
})

describe('bench gates and compare', () => {
  it('each gate passes at its limit and fails past it', () => {
    const gates = { maxP99Ms: 2, maxErrorRate: 0.01, minRps: 1000 }
    expect(evaluateGates(result(), gates).every((g) => g.passed)).toBe(true)
    expect(evaluateGates(result({ p99: 2.001 }), gates).find((g) => g.name === 'max-p99')?.passed).toBe(false)
    expect(evaluateGates(result({ samples: 0 }), gates).find((g) => g.name === 'max-p99')?.passed).toBe(false)
    expect(evaluateGates(result({ rate: 0.02 }), gates).find((g) => g.name === 'max-error-rate')?.passed).toBe(false)
    expect(evaluateGates(result({ rps: 999 }), gates).find((g) => g.name === 'min-rps')?.passed).toBe(false)
    expect(evaluateGates(result(), {})).toEqual([])
  })

  it('--compare: change in percent per figure; a file that is not a result is BAD_FILE', async () => {
    const rows = compareResults(result({ p99: 2, rps: 1000 }), result({ p99: 3, rps: 900 }))
    expect(rows.find((r) => r.figure === 'latency.p99')).toEqual({ figure: 'latency.p99', before: 2, now: 3, changePercent: 50 })
    expect(rows.find((r) => r.figure === 'requestsPerSecond.mean')?.changePercent).toBe(-10)
    expect(rows.find((r) => r.figure === 'errors.rate')?.changePercent).toBeNull()
    const dir = tempDir('stmpcat-bench-')
    writeFileSync(join(dir, 'x.json'), '{"hello": 1}')
    expect(await code(loadPrevious(join(dir, 'x.json')))).toBe('BAD_FILE')
    writeFileSync(join(dir, 'y.json'), 'not json')
    expect(await code(loadPrevious(join(dir, 'y.json')))).toBe('BAD_FILE')
  })

  it('--compare: runs with another load model, -c, -p or payload are not comparable; the differing settings are named', () => {
    const withSettings = (settings: Record<string, unknown>) => ({ ...result(), settings: { mode: 'request', rate: null, connections: 10, pipelining: 1, action: 'a', contentType: 'application/json', format: 'binary', payloadBytes: 0, workers: 1, durationMs: 1000, ...settings } }) as unknown as BenchResult
    const same = compareBlock('x.json', withSettings({ workers: 2, durationMs: 5000 }), withSettings({}))
    expect(same.comparable).toBe(true)
    expect(same.rows.find((r) => r.figure === 'latency.p50')?.changePercent).toBe(0)
    const other = compareBlock('x.json', withSettings({}), withSettings({ rate: 100_000, connections: 1, pipelining: 4, payloadBytes: 64 }))
    expect(other.comparable).toBe(false)
    expect(other.differences).toEqual([
      { setting: 'rate', before: 'closed model', now: 100_000 },
      { setting: 'connections', before: 10, now: 1 },
      { setting: 'pipelining', before: 1, now: 4 },
      { setting: 'payloadBytes', before: 0, now: 64 },
    ])
    expect(other.rows.every((r) => r.changePercent === null)).toBe(true)
  })

  it('bench numbers given as text (from the command line): a bad one is BAD_FLAG', async () => {
    const s = (await resolveSettings(undefined, flags({ connections: '4', pipelining: '2', rate: '100', 'max-p99': '2.5' })))
    expect([s.settings.connections, s.settings.pipelining, s.settings.rate, s.gates.maxP99Ms]).toEqual([4, 2, 100, 2.5])
    for (const over of [{ connections: 'abc' }, { pipelining: '1.5' }, { amount: '1e3' }, { rate: '' }, { workers: 'two' }, { 'max-p99': 'abc' }, { 'min-rps': 'x' }, { 'max-error-rate': ' ' }]) {
      expect(await code(resolveSettings(undefined, flags(over))), JSON.stringify(over)).toBe('BAD_FLAG')
    }
  })

  it('colour follows NO_COLOR, FORCE_COLOR and the TTY', () => {
    expect(stderrChalk({ NO_COLOR: '1' }, true).level).toBe(0)
    expect(stderrChalk({}, false).level).toBe(0)
    expect(stderrChalk({ FORCE_COLOR: '1' }, false).level).toBeGreaterThan(0)
    // One colour rule for every command: FORCE_COLOR=3 is level 3 in bench's report too.
    expect(stderrChalk({ FORCE_COLOR: '3' }, false).level).toBe(3)
  })
})
