import { createRequire } from 'node:module'
import { isStreamScheme, parseAddress } from '../transport/index.js'
import { encodeHistogram, LATENCY_MAX_US, LATENCY_MIN_US, rateHistogram, summarizeLatency, summarizeRate, type LatencySummary, type RateSummary } from './histogram.js'
import type { BenchRun } from './run.js'
import type { ErrorKinds } from './types.js'

/**
 * The `--json` result: one object, stable keys, documented key by key in docs/bench.md.
 * Latencies are milliseconds with microsecond precision; rates are per second.
 */
export const RESULT_SCHEMA = 'stmpcat-bench/1'

export interface RatesWithOverall extends RateSummary {
  /** Total over the whole measured time (not a per-second sample). */
  overall: number
}

export interface GateResult {
  name: 'max-p99' | 'max-error-rate' | 'min-rps'
  limit: number
  value: number
  passed: boolean
}

export interface CompareRow {
  figure: string
  before: number | null
  now: number
  /** (now - before) / before * 100, rounded to 0.1; null when before is 0 or missing. */
  changePercent: number | null
}

/** A setting that differs between a `--compare` file and this run. */
export interface SettingDifference {
  setting: string
  before: unknown
  now: unknown
}

/** Why the run ended: as asked, because every connection was lost, or by SIGINT. */
export type EndReason = 'completed' | 'connections-lost' | 'interrupted'

export interface BenchResult {
  schema: typeof RESULT_SCHEMA
  versions: { stmpcat: string; node: string; hdrHistogramJs: string }
  startedAt: string
  target: { url: string; embedded: boolean; transport: string }
  settings: {
    mode: 'request' | 'push'
    connections: number
    pipelining: number
    durationMs: number | null
    amount: number | null
    rate: number | null
    warmupMs: number
    timeoutMs: number
    workers: number
    action: string
    /** The wire dialect every connection spoke. */
    dialect: string
    contentType: string
    format: 'binary' | 'text'
    payloadBytes: number
    headerNames: string[]
  }
  elapsedMs: number
  end: {
    reason: EndReason
    /** Sending stopped before `-d` / `-n` was reached. */
    early: boolean
    /** Connections given up, or down with their last redial failed, when sending stopped. */
    connectionsLost: number
  }
  /** `--rate` only: the rate asked and the rate the requests actually went out at. */
  schedule: { askedPerSecond: number; sentPerSecond: number; shortfallPercent: number } | null
  latency: LatencySummary
  requestsPerSecond: RatesWithOverall
  throughput: { inBytesPerSecond: RatesWithOverall; outBytesPerSecond: RatesWithOverall }
  totals: {
    /** `--rate`: requests due on the schedule (sent + unsent); null in the closed model. */
    due: number | null
    sent: number
    /** Due but never sent (the backlog when sending stopped); 0 in the closed model. */
    unsent: number
    /** Answered within `--timeout`, any status. */
    responses: number
    ok: number
    non2xx: number
    /** Requests that got no response (timeout + reset + protocol): sent = responses + errors. */
    errors: number
    /** No response within `--timeout` (= errors.byKind.timeout), late ones included. */
    timedOut: number
    /** Responses that came after `--timeout`: counted in timedOut, not in responses. */
    late: number
    bytesIn: number
    bytesOut: number
    pushesSent: number
    pushesReceived: number
  }
  errors: {
    /** (sent - ok) / sent: non-2xx responses and requests without a response. */
    rate: number
    byStatus: Record<string, number>
    byKind: ErrorKinds
  }
  cpu: { userMs: number; systemMs: number; perThousandRequestsMs: number | null }
  gates: GateResult[]
  passed: boolean
  /** Why the run failed (each also a line on stderr); empty when it passed. */
  failures: { code: string; message: string }[]
  compare: { file: string; comparable: boolean; differences: SettingDifference[]; rows: CompareRow[] } | null
  histogram: { encoding: 'hdr-histogram-compressed-base64'; unit: 'us'; lowest: number; highest: number; significantDigits: number; data: string }
}

function hdrVersion(): string {
  try {
    return (createRequire(import.meta.url)('hdr-histogram-js/package.json') as { version: string }).version
  } catch {
    return 'unknown'
  }
}

function rates(samples: number[], total: number, seconds: number): RatesWithOverall {
  const h = rateHistogram()
  for (const s of samples) h.recordValue(Math.round(s))
  // A run shorter than a second has no full-second sample: its overall rate stands in.
  if (samples.length === 0 && seconds > 0) h.recordValue(Math.round(total / seconds))
  const summary = summarizeRate(h)
  h.destroy()
  return { ...summary, overall: seconds > 0 ? Math.round((total / seconds) * 100) / 100 : 0 }
}

export function buildResult(run: BenchRun, version: string): BenchResult {
  const { settings, totals } = run
  const seconds = totals.elapsedMs / 1000
  const push = settings.push
  const errors = run.kinds.timeout + run.kinds.reset + run.kinds.protocol + run.kinds.cancelled
  const byStatus: Record<string, number> = {}
  for (const [s, n] of Object.entries(run.byStatus)) if (Number(s) < 200 || Number(s) > 299) byStatus[s] = n
  const sent = push ? totals.pushesSent : totals.sent
  const ok = push ? totals.pushesSent : totals.ok
  const cpuMs = run.cpu.userMs + run.cpu.systemMs
  const done = push ? totals.pushesSent : totals.responses
  const due = settings.rate !== null && !push ? Math.max(totals.due ?? sent, sent) : null
  // With --rate a request that was due and never sent is an error too: the rate is over what was due.
  const asked = due ?? sent
  const reason: BenchResult['end']['reason'] = run.interrupted ? 'interrupted' : totals.connectionsLost > 0 ? 'connections-lost' : 'completed'
  return {
    schema: RESULT_SCHEMA,
    versions: { stmpcat: version, node: process.versions.node, hdrHistogramJs: hdrVersion() },
    startedAt: run.startedAt.toISOString(),
    target: { url: run.targetUrl, embedded: run.embedded, transport: transportOf(run.targetUrl) },
    settings: {
      mode: push ? 'push' : 'request',
      connections: settings.connections,
      pipelining: settings.pipelining,
      durationMs: settings.durationMs,
      amount: settings.amount,
      rate: settings.rate,
      warmupMs: settings.warmupMs,
      timeoutMs: settings.timeoutMs,
      workers: settings.workers,
      action: settings.action,
      dialect: run.dialect,
      contentType: settings.contentType,
      format: settings.format,
      payloadBytes: settings.payload.length,
      headerNames: [...Object.keys(settings.headers), ...(settings.token !== undefined ? ['Authorization'] : [])],
    },
    elapsedMs: Math.round(totals.elapsedMs * 1000) / 1000,
    end: { reason, early: run.interrupted || run.endedEarly, connectionsLost: totals.connectionsLost },
    schedule: due === null || settings.rate === null ? null : {
      askedPerSecond: settings.rate,
      sentPerSecond: due === 0 ? 0 : Math.round(((settings.rate * sent) / due) * 100) / 100,
      shortfallPercent: due === 0 ? 0 : Math.round((1 - sent / due) * 1000) / 10,
    },
    latency: summarizeLatency(run.histogram),
    requestsPerSecond: rates(run.series.responses, done, seconds),
    throughput: {
      inBytesPerSecond: rates(run.series.bytesIn, totals.bytesIn, seconds),
      outBytesPerSecond: rates(run.series.bytesOut, totals.bytesOut, seconds),
    },
    totals: {
      due,
      sent,
      unsent: due === null ? 0 : due - sent,
      responses: totals.responses,
      ok,
      non2xx: totals.responses - totals.ok,
      errors,
      timedOut: run.kinds.timeout,
      late: totals.late,
      bytesIn: totals.bytesIn,
      bytesOut: totals.bytesOut,
      pushesSent: totals.pushesSent,
      pushesReceived: totals.pushesReceived,
    },
    errors: {
      rate: asked === 0 ? 1 : Math.round(((asked - ok) / asked) * 1e6) / 1e6,
      byStatus,
      byKind: { ...run.kinds },
    },
    cpu: {
      userMs: Math.round(run.cpu.userMs),
      systemMs: Math.round(run.cpu.systemMs),
      perThousandRequestsMs: done === 0 ? null : Math.round((cpuMs / (done / 1000)) * 1000) / 1000,
    },
    gates: [],
    passed: true,
    failures: [],
    compare: null,
    histogram: {
      encoding: 'hdr-histogram-compressed-base64',
      unit: 'us',
      lowest: LATENCY_MIN_US,
      highest: LATENCY_MAX_US,
      significantDigits: 3,
      data: encodeHistogram(run.histogram),
    },
  }
}

function transportOf(url: string): string {
  const scheme = parseAddress(url).scheme
  return isStreamScheme(scheme) ? scheme : `${scheme} (WebSocket)`
}
