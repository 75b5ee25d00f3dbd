import { readFile } from 'node:fs/promises'
import { StmpError } from '../errors.js'
import type { BenchResult, CompareRow } from './result.js'

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

export function compareResults(previous: unknown, now: BenchResult): CompareRow[] {
  return COMPARED_FIGURES.map((figure) => {
    const before = at(previous, figure)
    const value = at(now, figure) ?? 0
    const changePercent = before === null || before === 0 ? null : Math.round(((value - before) / before) * 1000) / 10
    return { figure, before, now: value, changePercent }
  })
}
