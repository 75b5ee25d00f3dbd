import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, runCli, startServe } from '../helpers/cli.js'
import { deadPort, startServer } from './helpers.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * `stmpcat bench` as a user runs it: the built CLI in a child process against `stmpcat serve`
 * (--routes), StmpServers on 127.0.0.1 port 0 in this process (custom handlers), the embedded
 * server, and a port nothing listens on.
 */

/** The key paths docs/bench.md documents for the JSON result. */
function documentedKeys(): string[] {
  const doc = readFileSync(join(ROOT, 'docs/bench.md'), 'utf8')
  const section = doc.slice(doc.indexOf('## The JSON result'))
  return [...section.matchAll(/^\| `([A-Za-z0-9_.]+)` \|/gm)].map((m) => m[1])
}

function get(obj: unknown, path: string): unknown {
  let v: unknown = obj
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object' || !(k in v)) return undefined
    v = (v as Record<string, unknown>)[k]
  }
  return v
}

interface Json {
  totals: { sent: number; responses: number; errors: number; ok: number }
  latency: { samples: number; p99: number }
  target: { embedded: boolean; url: string }
  settings: { workers: number }
  passed: boolean
  compare: { rows: { figure: string; changePercent: number | null }[] } | null
}

let echo: Awaited<ReturnType<typeof startServer>>
let half503: Awaited<ReturnType<typeof startServer>>
let all500: Awaited<ReturnType<typeof startServer>>

beforeAll(async () => {
  echo = await startServer()
  let n = 0
  half503 = await startServer((r) => ({ status: ++n % 2 === 0 ? 503 : 200, payload: r.payload }))
  all500 = await startServer(() => ({ status: 500, payload: Buffer.from('no') }))
})

afterAll(async () => {
  await Promise.all([echo, half503, all500].map((s) => s?.close()))
})

describe('stmpcat bench (built CLI)', () => {
  it('a 1-second run against serve: sent = responses + errors, and the JSON has every documented key', async () => {
    const serve = await startServe(['tcp://127.0.0.1:0'])
    const run = await runCli(['bench', serve.urls[0], '-d', '1', '-c', '4', '--json']).finally(() => serve.stop())
    expect(run.code, run.stderr).toBe(0)
    const json = JSON.parse(run.stdout) as Json
    const keys = documentedKeys()
    expect(keys.length).toBeGreaterThan(60)
    const missing = keys.filter((k) => get(json, k) === undefined)
    expect(missing).toEqual([])
    expect(json.totals.sent).toBeGreaterThan(0)
    expect(json.totals.sent).toBe(json.totals.responses + json.totals.errors)
    expect(json.latency.samples).toBe(json.totals.responses)
    expect(json.target.embedded).toBe(false)
  })

  it('rate mode against serve --routes (every 50th request held 200 ms), 100 req/s on one connection: samples = responses, p99 >= 150 ms', async () => {
    const dir = tempDir('stmpcat-bench-')
    const routes = join(dir, 'routes.yaml')
    writeFileSync(routes, 'test.echo:\n  delay: { time: 200ms, every: 50 }\n')
    const serve = await startServe(['tcp://127.0.0.1:0', '--routes', routes])
    try {
      const run = await runCli(['bench', serve.urls[0], '-R', '100', '-c', '1', '-d', '1', '--json'])
      expect(run.code, run.stderr).toBe(0)
      const json = JSON.parse(run.stdout) as Json
      expect(json.latency.samples).toBe(json.totals.responses)
      expect(json.totals.sent).toBe(json.totals.responses + json.totals.errors)
      expect(json.totals.responses).toBeGreaterThanOrEqual(95)
      expect(json.latency.p99).toBeGreaterThanOrEqual(150)
    } finally {
      await serve.stop()
    }
  }, 60_000)

  it('each SLO gate exits 8 when violated and 0 when met', async () => {
    const base = ['bench', '-n', '200', '-c', '2']
    const violated: [string, string[]][] = [
      ['max-p99', [echo.url, '--max-p99', '0.001']],
      ['min-rps', [echo.url, '--min-rps', '1000000000']],
      ['max-error-rate', [half503.url, '--max-error-rate', '0.1']],
    ]
    const [met, ...runs] = await Promise.all([
      // All three met at once (the half-503 server: error rate 0.5).
      runCli([...base, half503.url, '--max-p99', '30000', '--min-rps', '1', '--max-error-rate', '0.6', '--json']),
      ...violated.map(([, args]) => runCli([...base, ...args])),
    ])
    expect(met.code, met.stderr).toBe(0)
    const gates = (JSON.parse(met.stdout) as { gates: { name: string; passed: boolean }[] }).gates
    expect(gates.map((g) => [g.name, g.passed])).toEqual([['max-p99', true], ['max-error-rate', true], ['min-rps', true]])
    runs.forEach((run, i) => {
      const [name] = violated[i]
      expect(run.code, `${name}: ${run.stderr}`).toBe(8)
      expect(run.stderr).toMatch(new RegExp(`SLO_FAILED: --${name} `))
    })
  }, 120_000)

  it('no request succeeded: exit 8 with NO_SUCCESS, the JSON still printed', async () => {
    const run = await runCli(['bench', all500.url, '-n', '50', '-c', '1', '--json'])
    expect(run.code).toBe(8)
    expect(run.stderr).toMatch(/NO_SUCCESS/)
    const json = JSON.parse(run.stdout) as Json & { errors: { byStatus: Record<string, number> } }
    expect(json.passed).toBe(false)
    expect(json.errors.byStatus['500']).toBe(50)
  })

  it('an unreachable target exits 3 (connect failure)', async () => {
    const port = await deadPort()
    const run = await runCli(['bench', `tcp://127.0.0.1:${port}`, '-d', '1'])
    expect(run.code).toBe(3)
    expect(run.stderr).toMatch(/CONNECT_FAILED/)
    expect(run.stdout).toBe('')
  })

  it('--compare prints each figure beside the previous run with the change', async () => {
    const dir = tempDir('stmpcat-bench-')
    const file = join(dir, 'before.json')
    const first = await runCli(['bench', echo.url, '-n', '300', '-c', '2', '--out', file])
    expect(first.code, first.stderr).toBe(0)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toHaveProperty('latency.p50')
    const second = await runCli(['bench', echo.url, '-n', '300', '-c', '2', '--compare', file, '--histogram'])
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toBe('')
    expect(second.stderr).toMatch(/Compared with/)
    expect(second.stderr).toMatch(/latency\.p99 +│ [\d.]+ +│ [\d.]+ +│ [+-]?\d+\.\d%/)
    expect(second.stderr).toMatch(/Latency distribution/)
    const bad = await runCli(['bench', echo.url, '-n', '10', '--compare', join(dir, 'missing.json')])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/BAD_FILE/)
  }, 90_000)

  it('embedded mode (no URL) with two workers: the report names the embedded server', async () => {
    const run = await runCli(['bench', '-d', '1', '-c', '4', '-w', '2', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const json = JSON.parse(run.stdout) as Json
    expect(json.target.embedded).toBe(true)
    expect(json.settings.workers).toBe(2)
    expect(json.totals.ok).toBeGreaterThan(0)
    expect(json.totals.sent).toBe(json.totals.responses + json.totals.errors)
    const human = await runCli(['bench', '-n', '100', '-c', '1'])
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toBe('')
    expect(human.stderr).toMatch(/embedded echo server/)
    expect(human.stderr).toMatch(/p99\.99/)
  }, 90_000)

  it('bad flags are usage errors (exit 2)', async () => {
    const runs = await Promise.all([
      runCli(['bench', echo.url, '-c', '0']),
      runCli(['bench', echo.url, '--timeout', '2m']),
      runCli(['bench', echo.url, '--data', 'x', '--payload-size', '10']),
    ])
    for (const run of runs) {
      expect(run.code).toBe(2)
      expect(run.stderr).toMatch(/BAD_FLAG/)
    }
  }, 90_000)
})
