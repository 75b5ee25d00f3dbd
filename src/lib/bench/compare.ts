import { readFile } from 'node:fs/promises'
import { StmpError } from '../errors.js'
import type { BenchResult, CompareRow, SettingDifference } from './result.js'

/** The figures `--compare` sets beside the previous run, by JSON path. */
export const COMPARED_FIGURES: readonly string[] = [
  'latency.p50', 'latency.p75', 'latency.p90', 'latency.p99', 'latency.p99_9', 'latency.p99_99',
  'latency.max', 'latency.mean', 'latency.stdev',
  'requestsPerSecond.mean', 'requestsPerSecond.stdev', 'requestsPerSecond.min', 'requestsPerSecond.max',
  'throughput.inBytesPerSecond.mean', 'throughput.outBytesPerSecond.mean',
  'totals.sent', 'totals.responses', 'totals.errors', 'totals.non2xx', 'errors.rate', 'cpu.perThousandRequestsMs',
]

function at(obj: unknown, path: string): number | null {
  let v: unknown = obj
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object') return null
    v = (v as Record<string, unknown>)[key]
  }
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}

/** Reads a previous `--json` result; BAD_FILE when it cannot be read or is not one. */
export async function loadPrevious(file: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new StmpError('BAD_FILE', `--compare: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new StmpError('BAD_FILE', `--compare: ${file} is not JSON (give a file written by bench --json or --out)`)
  }
  if (at(json, 'latency.p50') === null || at(json, 'requestsPerSecond.mean') === null) {
    throw new StmpError('BAD_FILE', `--compare: ${file} is not a bench result (no latency.p50 / requestsPerSecond.mean)`)
  }
  return json
}

/**
 * The settings that make two runs comparable: the load model and its rate, the connections,
 * the pipelining and the request. (The target, the duration and the workers may differ: those
 * are what a comparison is usually about.)
 */
export const COMPARED_SETTINGS: readonly string[] = ['mode', 'rate', 'connections', 'pipelining', 'action', 'contentType', 'format', 'payloadBytes']

function describe(setting: string, value: unknown): unknown {
  return setting === 'rate' && value === null ? 'closed model' : value
}

/** The settings of `COMPARED_SETTINGS` that differ (a setting the previous file lacks is not compared). */
export function settingDifferences(previous: unknown, now: BenchResult): SettingDifference[] {
  const before = (previous as { settings?: Record<string, unknown> } | null)?.settings
  if (before === null || typeof before !== 'object') return []
  const out: SettingDifference[] = []
  for (const setting of COMPARED_SETTINGS) {
    if (!(setting in before)) continue
    const a = before[setting]
    const b = (now.settings as unknown as Record<string, unknown>)[setting]
    if (a !== b) out.push({ setting, before: describe(setting, a), now: describe(setting, b) })
  }
  return out
}

/** Each figure beside the previous run; `changePercent` is null when the runs are not comparable. */
export function compareResults(previous: unknown, now: BenchResult, comparable = true): CompareRow[] {
  return COMPARED_FIGURES.map((figure) => {
    const before = at(previous, figure)
    const value = at(now, figure) ?? 0
    const changePercent = !comparable || before === null || before === 0 ? null : Math.round(((value - before) / before) * 1000) / 10
    return { figure, before, now: value, changePercent }
  })
}

/** The `--compare` block of the result. */
export function compareBlock(file: string, previous: unknown, now: BenchResult): NonNullable<BenchResult['compare']> {
  const differences = settingDifferences(previous, now)
  const comparable = differences.length === 0
  return { file, comparable, differences, rows: compareResults(previous, now, comparable) }
}

/** The stderr warning for runs that are not comparable. */
export function differencesText(differences: SettingDifference[]): string {
  return differences.map((d) => `${d.setting} ${String(d.before)} before, ${String(d.now)} now`).join('; ')
}
