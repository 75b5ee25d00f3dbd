import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import type { Histogram } from 'hdr-histogram-js'
import { deserializeError, StmpError, type SerializedError } from '../errors.js'
import { startEmbeddedServer, type EmbeddedServer } from './embedded.js'
import { decodeHistogram, latencyHistogram } from './histogram.js'
import { LoadRunner } from './load.js'
import type { ErrorKinds, LoadPlan, RunnerReport, TickSample } from './types.js'

/**
 * Everything `bench` was asked to do, flags resolved (see options.ts): one runner's LoadPlan
 * fields for the whole run, plus the target (null: the embedded echo server) and the workers.
 */
export type BenchSettings = Omit<LoadPlan, 'address' | 'payload'> & {
  target: string | null
  payload: Buffer
  workers: number
}

/** Per-second series of the measured phase, summed over runners (one entry per full second). */
export interface Series {
  responses: number[]
  bytesIn: number[]
  bytesOut: number[]
  errors: number[]
}

export interface BenchRun {
  settings: BenchSettings
  targetUrl: string
  embedded: boolean
  /** The wire dialect of the run. */
  dialect: string
  startedAt: Date
  histogram: Histogram
  totals: Omit<RunnerReport, 'histogram' | 'byStatus' | 'kinds' | 'due' | 'endedEarly' | 'interrupted'> & { due: number | null }
  byStatus: Record<string, number>
  kinds: ErrorKinds
  series: Series
  /** Every connection gave up redialling before `-d` / `-n` was reached (the target went away). */
  endedEarly: boolean
  /** SIGINT stopped the run. */
  interrupted: boolean
  /** CPU time of the whole stmpcat process (all threads) during warm-up and measurement. */
  cpu: { userMs: number; systemMs: number }
}

export interface BenchHooks {
  /** The load starts at `startAt` (epoch ms). */
  onStart?(startAt: number): void
  /** A full measured second, summed over all runners. */
  onSecond?(second: number, sample: Omit<TickSample, 'second'>): void
}

interface RunnerHandle {
  connect(): Promise<void>
  run(startAt: number): Promise<RunnerReport>
  /** SIGINT: stop sending, let what is in flight finish briefly, report. */
  interrupt(): void
  abort(): void
}

const START_DELAY_MS = 30

/** Splits `total` into `parts` integers that sum to it, proportional to `weights`. */
export function split(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0)
  const out = weights.map((w) => Math.floor((total * w) / sum))
  let rest = total - out.reduce((a, b) => a + b, 0)
  for (let i = 0; rest > 0; i = (i + 1) % out.length, rest--) out[i]++
  return out
}

export function plansFor(settings: BenchSettings, url: string): LoadPlan[] {
  const w = settings.workers
  const conns = split(settings.connections, new Array<number>(w).fill(1))
  const amounts = settings.amount === null ? null : split(settings.amount, conns)
  return conns.map((connections, i) => ({
    address: url,
    connections,
    pipelining: settings.pipelining,
    durationMs: settings.durationMs,
    amount: amounts === null ? null : amounts[i],
    rate: settings.rate === null ? null : (settings.rate * connections) / settings.connections,
    warmupMs: settings.warmupMs,
    timeoutMs: settings.timeoutMs,
    connectTimeoutMs: settings.connectTimeoutMs,
    action: settings.action,
    payload: new Uint8Array(settings.payload),
    contentType: settings.contentType,
    format: settings.format,
    headers: settings.headers,
    serverLatency: settings.serverLatency,
    tls: settings.tls,
    push: settings.push,
    dialect: settings.dialect,
    dialectOptions: settings.dialectOptions,
    dialectFlags: settings.dialectFlags,
    token: settings.token,
  }))
}

function interruptedBeforeLoad(): StmpError {
  return new StmpError('INTERRUPTED', 'interrupted before the load started: nothing was measured')
}

/**
 * Runs the benchmark: embedded server (if no target), runners or workers, merge. `signal`
 * (SIGINT) stops the load: the run ends with what it measured so far, marked interrupted;
 * before the load starts it throws INTERRUPTED.
 */
export async function runBench(settings: BenchSettings, hooks: BenchHooks = {}, signal?: AbortSignal): Promise<BenchRun> {
  // A function, not a narrowed property: the signal changes while this awaits.
  const aborted = () => signal?.aborted === true
  if (aborted()) throw interruptedBeforeLoad()
  const embedded: EmbeddedServer | undefined = settings.target === null ? await startEmbeddedServer(settings.dialect) : undefined
  try {
    if (aborted()) throw interruptedBeforeLoad()
    const url = settings.target ?? (embedded as EmbeddedServer).url
    const series: Series = { responses: [], bytesIn: [], bytesOut: [], errors: [] }
    const reported: number[] = []
    const onTick = (t: TickSample) => {
      const k = t.second
      series.responses[k] = (series.responses[k] ?? 0) + t.responses
      series.bytesIn[k] = (series.bytesIn[k] ?? 0) + t.bytesIn
      series.bytesOut[k] = (series.bytesOut[k] ?? 0) + t.bytesOut
      series.errors[k] = (series.errors[k] ?? 0) + t.errors
      reported[k] = (reported[k] ?? 0) + 1
      if (reported[k] === settings.workers) {
        hooks.onSecond?.(k, { responses: series.responses[k], bytesIn: series.bytesIn[k], bytesOut: series.bytesOut[k], errors: series.errors[k] })
      }
    }
    const plans = plansFor(settings, url)
    const handles = settings.workers === 1 ? [inProcess(plans[0], onTick)] : plans.map((p) => inWorker(p, onTick))
    let onAbort = () => undefined as void
    try {
      await new Promise<void>((resolve, reject) => {
        onAbort = () => reject(interruptedBeforeLoad())
        signal?.addEventListener('abort', onAbort, { once: true })
        Promise.all(handles.map((h) => h.connect())).then(() => resolve(), reject)
      })
    } catch (err) {
      for (const h of handles) h.abort()
      throw err
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
    const startAt = performance.timeOrigin + performance.now() + START_DELAY_MS
    const startedAt = new Date(startAt)
    hooks.onStart?.(startAt)
    const cpu0 = process.cpuUsage()
    const running = Promise.all(handles.map((h) => h.run(startAt)))
    const interrupt = () => { for (const h of handles) h.interrupt() }
    signal?.addEventListener('abort', interrupt, { once: true })
    if (aborted()) interrupt()
    const reports = await running.finally(() => signal?.removeEventListener('abort', interrupt))
    const cpu = process.cpuUsage(cpu0)
    for (const h of handles) h.abort()
    // Only seconds every runner finished count.
    const full = reported.findIndex((n) => n !== settings.workers)
    const seconds = full < 0 ? reported.length : full
    for (const key of Object.keys(series) as (keyof Series)[]) series[key] = Array.from({ length: seconds }, (_, i) => series[key][i] ?? 0)
    return { settings, targetUrl: url, embedded: embedded !== undefined, dialect: settings.dialect, startedAt, series, cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000 }, ...merge(reports) }
  } finally {
    await embedded?.close()
  }
}

function merge(reports: RunnerReport[]): Pick<BenchRun, 'histogram' | 'totals' | 'byStatus' | 'kinds' | 'endedEarly' | 'interrupted'> {
  const histogram = latencyHistogram()
  const totals: BenchRun['totals'] = { sent: 0, responses: 0, ok: 0, bytesIn: 0, bytesOut: 0, pushesSent: 0, pushesReceived: 0, elapsedMs: 0, late: 0, due: null, connectionsLost: 0 }
  const byStatus: Record<string, number> = {}
  const kinds: ErrorKinds = { timeout: 0, refused: 0, reset: 0, protocol: 0, cancelled: 0 }
  let endedEarly = false
  let interrupted = false
  for (const r of reports) {
    const h = decodeHistogram(r.histogram)
    histogram.add(h)
    h.destroy()
    totals.sent += r.sent
    totals.responses += r.responses
    totals.ok += r.ok
    totals.bytesIn += r.bytesIn
    totals.bytesOut += r.bytesOut
    totals.pushesSent += r.pushesSent
    totals.pushesReceived += r.pushesReceived
    totals.elapsedMs = Math.max(totals.elapsedMs, r.elapsedMs)
    totals.late += r.late
    totals.connectionsLost += r.connectionsLost
    if (r.due !== null) totals.due = (totals.due ?? 0) + r.due
    // One worker whose connections all gave up has ended early; the others run on.
    endedEarly ||= r.endedEarly
    interrupted ||= r.interrupted
    for (const [s, n] of Object.entries(r.byStatus)) byStatus[s] = (byStatus[s] ?? 0) + n
    for (const k of Object.keys(kinds) as (keyof ErrorKinds)[]) kinds[k] += r.kinds[k]
  }
  return { histogram, totals, byStatus, kinds, endedEarly, interrupted }
}

function inProcess(plan: LoadPlan, onTick: (t: TickSample) => void): RunnerHandle {
  const runner = new LoadRunner(plan, onTick)
  return {
    connect: () => runner.connect(),
    run: (startAt) => runner.run(startAt),
    interrupt: () => runner.interrupt(),
    abort: () => runner.close(),
  }
}

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'error'; error: SerializedError }
  | { type: 'tick'; tick: TickSample }
  | { type: 'done'; report: RunnerReport }

function inWorker(plan: LoadPlan, onTick: (t: TickSample) => void): RunnerHandle {
  const worker = new Worker(new URL('./worker.js', import.meta.url))
  let ready: { resolve: () => void; reject: (e: unknown) => void } | undefined
  let done: { resolve: (r: RunnerReport) => void; reject: (e: unknown) => void } | undefined
  let failure: unknown
  const fail = (err: unknown) => {
    failure = err
    ready?.reject(err)
    done?.reject(err)
  }
  worker.on('message', (msg: WorkerMessage) => {
    switch (msg.type) {
      case 'ready': ready?.resolve(); return
      case 'error': fail(deserializeError(msg.error)); return
      case 'tick': onTick(msg.tick); return
      case 'done': done?.resolve(msg.report)
    }
  })
  worker.on('error', (err) => fail(new StmpError('INTERNAL', `a bench worker failed: ${err.message}`, { cause: err })))
  worker.on('exit', (code) => {
    if (code !== 0) fail(new StmpError('INTERNAL', `a bench worker exited with code ${code}`))
  })
  worker.postMessage({ type: 'plan', plan })
  return {
    connect: () => new Promise<void>((resolve, reject) => {
      if (failure !== undefined) reject(failure)
      else ready = { resolve, reject }
    }),
    run: (startAt) => new Promise<RunnerReport>((resolve, reject) => {
      if (failure !== undefined) reject(failure)
      else {
        done = { resolve, reject }
        worker.postMessage({ type: 'start', at: startAt })
      }
    }),
    interrupt: () => worker.postMessage({ type: 'interrupt' }),
    abort: () => {
      worker.postMessage({ type: 'abort' })
      setTimeout(() => void worker.terminate(), 200).unref()
    },
  }
}
