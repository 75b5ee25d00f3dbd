import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import YAML from 'yaml'
import { runCli, startServe } from '../helpers/cli.js'
import { runArtillery, serveTotals } from './artillery.js'

/**
 * `stmpcat bench --artillery FILE` writes the scenario for a bench command line; the real
 * `artillery run` of that file puts the same load on the server (serve's --stats counts it).
 */

const RUN_TIMEOUT = 120_000

interface Scenario {
  config: { target: string; phases: { arrivalRate: number; duration: number }[]; engines: { stmp: Record<string, unknown> }; ensure?: { thresholds?: Record<string, number>[]; conditions?: { expression: string }[] } }
  scenarios: { engine: string; flow: { loop: Record<string, unknown>[]; count?: number; duration?: string }[] }[]
}

describe.concurrent('stmpcat bench --artillery', () => {
  test('prints the scenario for the flags: connections as VUs, -p as a parallel block, -n as a count, the dialect, gates as ensure; headers, token, content type and -w', async () => {
    const run = await runCli(['bench', 'tcp://127.0.0.1:5999', '--dialect', 'ndjson', '-c', '4', '-p', '3', '-n', '120', '--data', '{"a":1}', '--action', 'x.y',
      '--timeout', '2s', '--max-p99', '25', '--min-rps', '100', '--artillery', '-'])
    expect(run.code, run.stderr).toBe(0)
    const s = YAML.parse(run.stdout) as Scenario
    expect(s.config.target).toBe('tcp://127.0.0.1:5999')
    expect(s.config.phases).toEqual([{ name: '4 connections', duration: 1, arrivalRate: 4 }])
    expect(s.config.engines.stmp).toEqual({ dialect: 'ndjson', contentType: 'json', timeout: '2000ms' })
    expect(s.config.ensure).toEqual({ thresholds: [{ 'stmp.response_time.p99': 25 }], conditions: [{ expression: 'stmp.request_rate >= 100' }] })
    const flow = s.scenarios[0].flow
    expect(s.scenarios[0].engine).toBe('stmp')
    // 120 requests over 4 VUs x 3 in flight: 10 rounds each.
    expect(flow[0].count).toBe(10)
    expect(flow[0].duration).toBeUndefined()
    expect(flow[0].loop).toEqual([{ parallel: [0, 1, 2].map(() => ({ request: { action: 'x.y', payload: '{"a":1}' } })) }])

    const v3 = await runCli(['bench', 'ws://127.0.0.1:5999/stmp', '-H', 'X-A: 1', '--token', 't0k', '-t', 'msgpack', '--data', '{"b":[1,2]}', '-c', '4', '-w', '2', '-d', '5s', '--artillery', '-'])
    expect(v3.code, v3.stderr).toBe(0)
    const t = YAML.parse(v3.stdout) as Scenario
    expect(t.config.engines.stmp).toEqual({ contentType: 'msgpack', headers: { 'X-A': '1' }, token: 't0k', timeout: '10000ms' })
    expect(t.scenarios[0].flow[0]).toEqual({ loop: [{ request: { action: 'test.echo', payload: '{"b":[1,2]}' } }], duration: '5000ms' })
    expect(v3.stdout).toContain('-w 2: Artillery splits the arrivals over its own workers')
  })

  test('a bench line with no URL (the embedded server) or a flag the dialect lacks is BAD_FLAG, and no file is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stmpcat-bench-artillery-'))
    try {
      const noUrl = await runCli(['bench', '-d', '1s', '--artillery', join(dir, 'a.yml'), '--json'])
      expect(noUrl.code).toBe(2)
      expect(JSON.parse(noUrl.stdout).error.code).toBe('BAD_FLAG')
      const badFlag = await runCli(['bench', 'tcp://127.0.0.1:5999', '--dialect', 'ndjson', '--format', 'text', '--artillery', join(dir, 'b.yml'), '--json'])
      expect(badFlag.code).toBe(2)
      expect(JSON.parse(badFlag.stdout).error.code).toBe('BAD_FLAG')
      expect(() => readFileSync(join(dir, 'a.yml'))).toThrow()
      expect(() => readFileSync(join(dir, 'b.yml'))).toThrow()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('artillery runs the written file: -c 3 -p 2 -n 60 sends exactly 60 requests, all reaching serve and answered', async () => {
    const serve = await startServe(['tcp://127.0.0.1:0', '--stats', '--json'])
    const dir = mkdtempSync(join(tmpdir(), 'stmpcat-bench-artillery-'))
    try {
      const file = join(dir, 'bench.yml')
      const written = await runCli(['bench', serve.urls[0], '-c', '3', '-p', '2', '-n', '60', '--data', '{"n":1}', '--max-p99', '5000', '--artillery', file])
      expect(written.code, written.stderr).toBe(0)
      expect(written.stderr).toContain(`wrote ${file}`)
      const run = await runArtillery(file, serve.urls[0])
      expect(await serve.stop()).toBe(0)
      const seen = serveTotals(serve.stdout())
      const c = run.report.counters
      expect(run.code, run.stdout).toBe(0)
      expect(run.stdout).toContain('ok: stmp.response_time.p99 < 5000')
      expect(c['vusers.created']).toBe(3)
      expect(c['vusers.failed'] ?? 0).toBe(0)
      expect(c['stmp.requests']).toBe(60)
      expect(c['stmp.responses']).toBe(60)
      expect(seen.connections).toBe(3)
      expect(seen.requestsIn).toBe(60)
    } finally {
      await serve.stop('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  }, RUN_TIMEOUT)

  test('-d 1s -R 30 -c 3: each VU loops for the duration with a pause sized for the rate; what was sent is what serve saw', async () => {
    const serve = await startServe(['ndjson+tcp://127.0.0.1:0', '--stats', '--json'])
    const dir = mkdtempSync(join(tmpdir(), 'stmpcat-bench-artillery-'))
    try {
      const file = join(dir, 'rate.yml')
      const written = await runCli(['bench', serve.urls[0], '--dialect', 'ndjson', '-c', '3', '-d', '1s', '-R', '30', '--artillery', file])
      expect(written.code, written.stderr).toBe(0)
      const s = YAML.parse(readFileSync(file, 'utf8')) as Scenario
      expect(s.scenarios[0].flow[0]).toEqual({ loop: [{ request: { action: 'test.echo' } }, { think: '100ms' }], duration: '1000ms' })
      const run = await runArtillery(file, serve.urls[0])
      expect(await serve.stop()).toBe(0)
      const c = run.report.counters
      expect(run.code, run.stdout).toBe(0)
      // 30/s for 1 s, paced after each answer: about 30 (each VU loops its own second); unpaced it was over 1,000.
      expect(c['stmp.requests']).toBeGreaterThanOrEqual(10)
      expect(c['stmp.requests']).toBeLessThanOrEqual(36)
      expect(c['stmp.responses']).toBe(c['stmp.requests'])
      expect(serveTotals(serve.stdout()).requestsIn).toBe(c['stmp.requests'])
    } finally {
      await serve.stop('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    }
  }, RUN_TIMEOUT)
})
