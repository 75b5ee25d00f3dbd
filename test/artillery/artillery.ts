import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../helpers/cli.js'

/**
 * The real Artillery CLI (node_modules/.bin/artillery, 2.0.21) as a user runs it: a child process,
 * `artillery run --target URL --output report.json SCENARIO`, in the fixture directory so that
 * `config.processor` paths resolve. Artillery finds `engine: stmp` as the package
 * artillery-engine-stmp in node_modules (the workspace link), as after `npm ci`.
 */
export const ARTILLERY = join(ROOT, 'node_modules/.bin/artillery')
export const FIXTURES = join(ROOT, 'test/fixtures/artillery')

export interface Report {
  counters: Record<string, number>
  summaries: Record<string, { min: number; max: number; count: number; p99: number; median: number }>
}

export interface ArtilleryRun {
  code: number | null
  stdout: string
  stderr: string
  report: Report
  /** Wall time of the whole run in ms. */
  elapsed: number
}

export function runArtillery(scenario: string, target: string, env: Record<string, string> = {}): Promise<ArtilleryRun> {
  // Not tempDir(): its onTestFinished belongs to whichever concurrent test is current.
  const dir = mkdtempSync(join(tmpdir(), 'stmpcat-artillery-'))
  const output = join(dir, 'report.json')
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(ARTILLERY, ['run', '--target', target, '--output', output, scenario], {
      cwd: FIXTURES,
      // Telemetry off; Artillery still sends one anonymous event at the end (lib/telemetry.js).
      env: { ...process.env, ARTILLERY_DISABLE_TELEMETRY: 'true', NO_COLOR: '1', FORCE_COLOR: '0', ...env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => {
      let report: Report
      try {
        report = (JSON.parse(readFileSync(output, 'utf8')) as { aggregate: Report }).aggregate
      } catch (err) {
        rmSync(dir, { recursive: true, force: true })
        return reject(new Error(`artillery exited ${code} without a report (${String(err)}); stdout:\n${stdout}\nstderr:\n${stderr}`))
      }
      rmSync(dir, { recursive: true, force: true })
      resolve({ code, stdout, stderr, report, elapsed: performance.now() - started })
    })
  })
}

export interface ServeTotals {
  connections: number
  requestsIn: number
  responsesOut: number
  pushesIn: number
  pushesOut: number
}

/** The sums of `serve --stats --json`'s final per-connection stats lines. */
export function serveTotals(stdout: string): ServeTotals {
  const totals: ServeTotals = { connections: 0, requestsIn: 0, responsesOut: 0, pushesIn: 0, pushesOut: 0 }
  for (const line of stdout.split('\n')) {
    if (line === '') continue
    const e = JSON.parse(line) as { event: string; final?: boolean } & Partial<ServeTotals>
    if (e.event !== 'stats' || e.final !== true) continue
    totals.connections++
    totals.requestsIn += e.requestsIn ?? 0
    totals.responsesOut += e.responsesOut ?? 0
    totals.pushesIn += e.pushesIn ?? 0
    totals.pushesOut += e.pushesOut ?? 0
  }
  return totals
}
