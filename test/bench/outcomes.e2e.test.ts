import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, spawnCli, startServe, type CliRun } from '../helpers/cli.js'
import { tempDir } from '../helpers/tmp.js'
import { startServer } from './helpers.js'

/**
 * How a bench run ends when it does not end as asked (issue 18, points 2-5 and 13), with the
 * built CLI as a child process: a server process killed mid-run, a rate the client cannot
 * reach, Ctrl-C (SIGINT sent to the node process itself), an --out path that cannot be
 * written, bad flag values, and --compare of runs with other settings.
 */

interface Json {
  elapsedMs: number
  end: { reason: string; early: boolean; connectionsLost: number }
  schedule: { askedPerSecond: number; sentPerSecond: number; shortfallPercent: number } | null
  totals: { due: number | null; sent: number; unsent: number; responses: number; errors: number; timedOut: number; late: number; ok: number }
  latency: { samples: number; max: number }
  errors: { byKind: { timeout: number; refused: number; reset: number; cancelled: number } }
  passed: boolean
  failures: { code: string; message: string }[]
  compare: { comparable: boolean; differences: { setting: string }[]; rows: { changePercent: number | null }[] } | null
}

/** A child's whole output and exit, collected from spawn. */
function collect(child: ReturnType<typeof spawnCli>): Promise<CliRun> {
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.stdin.end()
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
}

/** A server in this process that reports its first request (so a test acts while the load runs). */
async function serverWithFirstRequest(answer = true) {
  let first!: () => void
  const firstRequest = new Promise<void>((r) => { first = r })
  let requests = 0
  const s = await startServer((request) => {
    if (++requests === 1) first()
    return answer ? { status: 200, payload: request.payload } : new Promise(() => undefined)
  })
  return { ...s, firstRequest, requests: () => requests }
}

let live: Awaited<ReturnType<typeof serverWithFirstRequest>>
beforeAll(async () => {
  live = await serverWithFirstRequest()
})
afterAll(async () => {
  await live?.close()
})

describe('bench: a run that does not end as asked says so', () => {
  it('the server process killed (SIGKILL) mid-run: the run ends early, CONNECTIONS_LOST, exit 3, passed false', async () => {
    // --log: every frame as an NDJSON line on stdout; 20 responses out: the load is on and some
    // answers reached the client (a killed process's last writes may be lost with its socket).
    const serve = await startServe(['tcp://127.0.0.1:0', '--log'])
    const answered = new Promise<void>((resolve) => {
      const look = () => { if (serve.stdout().split('"direction":"out","kind":"response"').length > 20) resolve() }
      serve.child.stdout.on('data', look)
      look()
    })
    const running = collect(spawnCli(['bench', serve.urls[0], '-d', '60s', '-c', '4', '-R', '400', '--json']))
    await answered
    serve.child.kill('SIGKILL')
    const run = await running
    expect(run.code, run.stderr).toBe(3)
    expect(run.stderr).toMatch(/CONNECTIONS_LOST: the run ended early, after [\d.]+ s of 60\.00 s: all 4 connections gave up redialling/)
    const json = JSON.parse(run.stdout) as Json
    expect(json.passed).toBe(false)
    expect(json.end).toEqual({ reason: 'connections-lost', early: true, connectionsLost: 4 })
    expect(json.failures.map((f) => f.code)).toEqual(['CONNECTIONS_LOST'])
    expect(json.elapsedMs).toBeLessThan(60_000)
    expect(json.errors.byKind.refused).toBeGreaterThanOrEqual(4 * 10)
    expect(json.totals.sent).toBe(json.totals.responses + json.totals.errors)
  }, 120_000)

  it('-R the client cannot reach: due, sent, unsent, late are reported, a warning says by how much, no success past --timeout', async () => {
    const serve = await startServe(['tcp://127.0.0.1:0'])
    const run = await runCli(['bench', serve.urls[0], '-R', '100000', '-c', '1', '-p', '1', '-d', '2s', '--timeout', '500ms', '--json']).finally(() => serve.stop())
    expect(run.code, run.stderr).toBe(0)
    const json = JSON.parse(run.stdout) as Json
    const t = json.totals
    expect(t.due).toBe(200_000)
    expect(t.sent).toBeLessThan(t.due as number)
    expect(t.unsent).toBe((t.due as number) - t.sent)
    expect(json.schedule?.askedPerSecond).toBe(100_000)
    expect(json.schedule?.shortfallPercent).toBeGreaterThan(10)
    // Requests sent from the backlog after their timeout: answered late, counted as timeouts.
    expect(t.late).toBeGreaterThan(0)
    expect(t.timedOut).toBeGreaterThanOrEqual(t.late)
    expect(t.timedOut).toBe(json.errors.byKind.timeout)
    expect(t.sent).toBe(t.responses + t.errors)
    // Only answers within --timeout are successes with a latency (HdrHistogram rounds up by < 0.1%).
    expect(json.latency.samples).toBe(t.responses)
    expect(json.latency.max).toBeLessThanOrEqual(501)
    const sent = t.sent.toLocaleString('en-US')
    expect(run.stderr).toMatch(new RegExp(`warning: -R 100,000/s not reached: ${sent} of 200,000 due requests were sent \\([\\d,]+/s, [\\d.]+% under the asked rate\\)`))
    const human = await runCli(['bench', live.url, '-R', '200', '-d', '1s'])
    expect(human.code, human.stderr).toBe(0)
    expect(human.stderr).toMatch(/Requests +│ due +│ sent +│ unsent +│ answered +│ 2xx +│ non-2xx +│ timed out +│ late/)
    expect(human.stderr).not.toMatch(/not reached/)
  }, 120_000)
})

describe('bench: Ctrl-C (SIGINT) keeps the report', () => {
  it('--json and --out: the partial result marked interrupted, exit 130', async () => {
    const dir = tempDir('stmpcat-bench-')
    const out = join(dir, 'run.json')
    const server = await serverWithFirstRequest()
    const child = spawnCli(['bench', server.url, '-d', '60s', '-c', '2', '--json', '--out', out])
    const running = collect(child)
    await server.firstRequest
    child.kill('SIGINT')
    const run = await running.finally(() => server.close())
    expect(run.code, run.stderr).toBe(130)
    expect(run.stderr).toMatch(/INTERRUPTED: interrupted \(SIGINT\) after [\d.]+ s of 60\.00 s/)
    const json = JSON.parse(run.stdout) as Json
    expect(json.end.reason).toBe('interrupted')
    expect(json.passed).toBe(false)
    expect(json.failures.map((f) => f.code)).toEqual(['INTERRUPTED'])
    expect(json.totals.sent).toBeGreaterThan(0)
    expect(json.totals.sent).toBe(json.totals.responses + json.totals.errors)
    expect((JSON.parse(readFileSync(out, 'utf8')) as Json).end.reason).toBe('interrupted')
  }, 90_000)

  it('the report on stderr with two workers; requests still unanswered after the grace time are cancelled', async () => {
    const server = await serverWithFirstRequest()
    const human = spawnCli(['bench', server.url, '-d', '60s', '-c', '2', '-w', '2'])
    const humanRun = collect(human)
    await server.firstRequest
    human.kill('SIGINT')
    const h = await humanRun.finally(() => server.close())
    expect(h.code, h.stderr).toBe(130)
    expect(h.stdout).toBe('')
    expect(h.stderr).toMatch(/INTERRUPTED \(SIGINT\) after [\d.]+ s of 60\.00 s: partial results/)
    expect(h.stderr).toMatch(/p99\.99/)

    const stalled = await serverWithFirstRequest(false)
    try {
      const child = spawnCli(['bench', stalled.url, '-d', '60s', '-c', '2', '-p', '2', '--json'])
      const running = collect(child)
      await stalled.firstRequest
      child.kill('SIGINT')
      const run = await running
      expect(run.code, run.stderr).toBe(130)
      const json = JSON.parse(run.stdout) as Json
      expect(json.totals.sent).toBe(4)
      expect(json.errors.byKind.cancelled).toBe(4)
      expect(json.totals.errors).toBe(4)
    } finally {
      await stalled.close()
    }
  }, 90_000)
})

describe('bench --out', () => {
  it('a path that cannot be written is BAD_FILE before the run: nothing is sent', async () => {
    const dir = tempDir('stmpcat-bench-')
    const before = live.requests()
    const runs = await Promise.all([
      runCli(['bench', live.url, '-d', '5s', '--out', '/nonexistent/dir/x.json']),
      runCli(['bench', live.url, '-d', '5s', '--out', dir]),
      runCli(['bench', live.url, '-d', '5s', '--out', '/nonexistent/dir/x.json', '--json']),
    ])
    for (const run of runs.slice(0, 2)) {
      expect(run.code).toBe(2)
      expect(run.stderr).toMatch(/BAD_FILE: --out .*(does not exist|is a directory)/)
      expect(run.stderr).not.toMatch(/Latency/)
    }
    expect(JSON.parse(runs[2].stdout)).toEqual({ error: { code: 'BAD_FILE', message: expect.stringMatching(/does not exist/) as string } })
    expect(live.requests()).toBe(before)
  }, 60_000)

  it.runIf(existsSync('/dev/full'))('writing fails after the run (a full disk, /dev/full): the report is still printed, OUTPUT_FAILED, exit 2', async () => {
    const [human, json] = await Promise.all([
      runCli(['bench', live.url, '-n', '200', '-c', '2', '--out', '/dev/full']),
      runCli(['bench', live.url, '-n', '200', '-c', '2', '--out', '/dev/full', '--json']),
    ])
    expect(human.code).toBe(2)
    expect(human.stderr).toMatch(/p99\.99/)
    expect(human.stderr).toMatch(/OUTPUT_FAILED: --out: cannot write \/dev\/full: ENOSPC/)
    expect(json.code).toBe(2)
    const result = JSON.parse(json.stdout) as Json
    expect(result.totals.ok).toBe(200)
    expect(result.passed).toBe(false)
    expect(result.failures.map((f) => f.code)).toEqual(['OUTPUT_FAILED'])
  }, 60_000)
})

describe('bench flag values and --compare', () => {
  it('every bad bench flag value is BAD_FLAG (exit 2), --json included', async () => {
    const bad = [
      ['--max-p99', 'abc'], ['--min-rps', 'x'], ['--max-error-rate', 'lots'], ['-c', 'abc'], ['-p', '1.5'], ['-n', 'x'],
      ['-R', 'fast'], ['-w', 'two'], ['--format', 'xml'], ['--timeout', 'soon'], ['--warmup', '?'], ['--payload-size', 'big'],
    ]
    const runs = await Promise.all(bad.map((flag) => runCli(['bench', live.url, '-d', '1s', ...flag])))
    runs.forEach((run, i) => {
      expect(run.code, bad[i].join(' ')).toBe(2)
      expect(run.stderr, bad[i].join(' ')).toMatch(/^stmpcat: BAD_FLAG: /)
    })
    const json = await runCli(['bench', live.url, '--max-p99', 'abc', '--json'])
    expect(json.code).toBe(2)
    expect((JSON.parse(json.stdout) as { error: { code: string } }).error.code).toBe('BAD_FLAG')
  }, 90_000)

  it('--compare of a closed-model run with an -R run on fewer connections warns and names the settings; no change computed', async () => {
    const dir = tempDir('stmpcat-bench-')
    const file = join(dir, 'closed.json')
    const first = await runCli(['bench', live.url, '-n', '300', '-c', '2', '--out', file])
    expect(first.code, first.stderr).toBe(0)
    const [json, human] = await Promise.all([
      runCli(['bench', live.url, '-R', '200', '-d', '1s', '-c', '1', '--compare', file, '--json']),
      runCli(['bench', live.url, '-R', '200', '-d', '1s', '-c', '1', '--compare', file]),
    ])
    expect(json.code, json.stderr).toBe(0)
    expect(json.stderr).toMatch(/warning: --compare: .*closed\.json was run with other settings \(rate closed model before, 200 now; connections 2 before, 1 now\): the runs are not comparable/)
    const result = JSON.parse(json.stdout) as Json
    expect(result.compare?.comparable).toBe(false)
    expect(result.compare?.differences.map((d) => d.setting)).toEqual(['rate', 'connections'])
    expect(result.compare?.rows.every((r) => r.changePercent === null)).toBe(true)
    expect(human.code, human.stderr).toBe(0)
    expect(human.stderr).toMatch(/other settings: not comparable/)
    expect(human.stderr).not.toMatch(/│ [+-]?\d+\.\d%/)
  }, 90_000)
})
