import { constants } from 'node:fs'
import { access, stat, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { ExitCode, StmpError } from '../errors.js'
import { compareBlock, differencesText, loadPrevious } from './compare.js'
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
  /** Why the run fails, the one that sets the exit code first (FAILURE_ORDER); empty when it passes. */
  failures: StmpError[]
  /** Lines for stderr that do not fail the run (a rate not reached, runs not comparable). */
  warnings: string[]
}

/**
 * When a run fails for more than one reason, each is a line on stderr and the exit code is the
 * first of these (docs/bench.md "Exit codes").
 */
export const FAILURE_ORDER: readonly string[] = ['INTERRUPTED', 'OUTPUT_FAILED', 'CONNECTIONS_LOST', 'NO_SUCCESS', 'SLO_FAILED']

const count = (n: number) => n.toLocaleString('en-US')
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`

/** `stmpcat bench`: resolve flags, check `--out`, run, build the result, failures, compare, write `--out`. */
export async function bench(
  target: string | undefined,
  flags: BenchFlags,
  options: { version: string; out?: string; compare?: string; signal?: AbortSignal },
): Promise<BenchOutcome> {
  const { settings, gates } = await resolveSettings(target, flags)
  // A bad --out or --compare path fails before the load, not after it.
  if (options.out !== undefined) await checkOutPath(options.out)
  const previous = options.compare !== undefined ? await loadPrevious(options.compare) : undefined
  const progress = startProgress(settings)
  let run
  try {
    run = await runBench(settings, progress.hooks, options.signal)
  } finally {
    progress.stop()
  }
  const result = buildResult(run, options.version)
  result.gates = evaluateGates(result, gates)
  const failures = runFailures(result)
  const warnings: string[] = []
  const s = result.schedule
  if (s !== null && result.totals.due !== null && s.shortfallPercent >= 1) {
    warnings.push(`-R ${count(s.askedPerSecond)}/s not reached: ${count(result.totals.sent)} of ${count(result.totals.due)} due requests were sent `
      + `(${count(Math.round(s.sentPerSecond))}/s, ${s.shortfallPercent}% under the asked rate); ${count(result.totals.unsent)} were never sent. `
      + `Each connection holds -p requests in flight: more -c or -p let more wait for their answers at once`)
  }
  if (previous !== undefined && options.compare !== undefined) {
    result.compare = compareBlock(options.compare, previous, result)
    if (!result.compare.comparable) {
      warnings.push(`--compare: ${options.compare} was run with other settings (${differencesText(result.compare.differences)}): the runs are not comparable, so no change is computed`)
    }
  }
  const settle = () => {
    failures.sort((a, b) => FAILURE_ORDER.indexOf(a.code) - FAILURE_ORDER.indexOf(b.code))
    result.failures = failures.map((f) => ({ code: f.code, message: f.message }))
    result.passed = failures.length === 0
  }
  settle()
  if (options.out !== undefined) {
    try {
      await writeFile(options.out, `${JSON.stringify(result, null, 2)}\n`)
    } catch (err) {
      // The run is not thrown away: the report (and --json) is still printed.
      failures.push(new StmpError('OUTPUT_FAILED', `--out: cannot write ${options.out}: ${(err as NodeJS.ErrnoException).code ?? String(err)}; the result is only in this report`, { cause: err }))
      settle()
    }
  }
  return { result, failures, warnings }
}

/** Interrupted, connections lost, nothing succeeded, gates failed: in that order. */
function runFailures(result: BenchResult): StmpError[] {
  const out: StmpError[] = []
  const of = result.settings.durationMs !== null ? ` of ${seconds(result.settings.durationMs)}` : ''
  if (result.end.reason === 'interrupted') {
    out.push(new StmpError('INTERRUPTED', `interrupted (SIGINT) after ${seconds(result.elapsedMs)}${of}: the report covers the load until then`, { exitCode: ExitCode.INTERRUPTED }))
  }
  const lost = result.end.connectionsLost
  if (lost > 0) {
    const refused = `${count(result.errors.byKind.refused)} failed connection attempts`
    out.push(new StmpError('CONNECTIONS_LOST', result.end.early && result.end.reason !== 'interrupted'
      ? `the run ended early, after ${seconds(result.elapsedMs)}${of}: all ${lost} connection${lost === 1 ? '' : 's'} gave up redialling (the target went away; ${refused})`
      : `${lost} of ${result.settings.connections} connections were down, failing to redial, when sending stopped (the target went away; ${refused})`))
  }
  if (noSuccess(result)) {
    out.push(new StmpError('NO_SUCCESS', `no request succeeded (${result.totals.sent} sent, ${result.totals.responses} responses, ${result.totals.errors} without a response)`))
  }
  const failed = result.gates.filter((g) => !g.passed)
  if (failed.length > 0) out.push(new StmpError('SLO_FAILED', failed.map((g) => `--${g.name} ${g.limit} not met (${g.value})`).join('; ')))
  return out
}

/** `--out FILE` must be writable before the load: an existing file (not a directory), or a writable directory. */
export async function checkOutPath(file: string): Promise<void> {
  const fail = (why: string) => new StmpError('BAD_FILE', `--out ${file}: ${why} (checked before the run; nothing was sent)`)
  const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined
    throw fail(err.code ?? err.message)
  })
  if (info !== undefined) {
    if (info.isDirectory()) throw fail('is a directory')
    await access(file, constants.W_OK).catch(() => { throw fail('is not writable') })
    return
  }
  const dir = dirname(resolve(file))
  const dirInfo = await stat(dir).catch(() => undefined)
  if (dirInfo === undefined) throw fail(`the directory ${dir} does not exist`)
  if (!dirInfo.isDirectory()) throw fail(`${dir} is not a directory`)
  await access(dir, constants.W_OK).catch(() => { throw fail(`the directory ${dir} is not writable`) })
}

/**
 * Runs `fn` with an AbortSignal that SIGINT (Ctrl-C) aborts, so the load stops and the partial
 * report is printed instead of the process dying with it. `onSignal` tells the user.
 */
export async function withSigint<T>(fn: (signal: AbortSignal) => Promise<T>, onSignal: () => void): Promise<T> {
  const controller = new AbortController()
  const handler = () => {
    if (!controller.signal.aborted) onSignal()
    controller.abort()
  }
  process.on('SIGINT', handler)
  try {
    return await fn(controller.signal)
  } finally {
    process.off('SIGINT', handler)
  }
}
