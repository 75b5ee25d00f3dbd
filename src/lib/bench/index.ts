import { writeFile } from 'node:fs/promises'
import { StmpError } from '../errors.js'
import { compareResults, loadPrevious } from './compare.js'
import { evaluateGates, noSuccess } from './gates.js'
import { resolveSettings, type BenchFlags } from './options.js'
import { startProgress } from './progress.js'
import { buildResult, type BenchResult } from './result.js'
import { runBench } from './run.js'

export { renderReport, stderrChalk } from './report.js'
export { BENCH_DEFAULTS, BENCH_LIMITS, type BenchFlags } from './options.js'
export { RESULT_SCHEMA, type BenchResult } from './result.js'
export { runBench, type BenchSettings } from './run.js'

export interface BenchOutcome {
  result: BenchResult
  /** Why the run fails its exit code (exit 8), or null when it passes. */
  failure: StmpError | null
}

/** `stmpcat bench`: resolve flags, run, build the result, gates, compare, `--out`. */
export async function bench(
  target: string | undefined,
  flags: BenchFlags,
  options: { version: string; out?: string; compare?: string },
): Promise<BenchOutcome> {
  const { settings, gates } = await resolveSettings(target, flags)
  // A bad --compare file fails before the load, not after it.
  const previous = options.compare !== undefined ? await loadPrevious(options.compare) : undefined
  const progress = startProgress(settings)
  let run
  try {
    run = await runBench(settings, progress.hooks)
  } finally {
    progress.stop()
  }
  const result = buildResult(run, options.version)
  result.gates = evaluateGates(result, gates)
  let failure: StmpError | null = null
  if (noSuccess(result)) {
    failure = new StmpError('NO_SUCCESS', `no request succeeded (${result.totals.sent} sent, ${result.totals.responses} responses, ${result.totals.errors} without a response)`)
  } else {
    const failed = result.gates.filter((g) => !g.passed)
    if (failed.length > 0) failure = new StmpError('SLO_FAILED', failed.map((g) => `--${g.name} ${g.limit} not met (${g.value})`).join('; '))
  }
  result.passed = failure === null
  if (previous !== undefined && options.compare !== undefined) result.compare = { file: options.compare, rows: compareResults(previous, result) }
  if (options.out !== undefined) {
    try {
      await writeFile(options.out, `${JSON.stringify(result, null, 2)}\n`)
    } catch (err) {
      throw new StmpError('BAD_FILE', `--out: cannot write ${options.out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
    }
  }
  return { result, failure }
}
