import type { ChalkInstance } from 'chalk'
import Table from 'cli-table3'
import { decodeHistogram, latencyBins } from './histogram.js'
import { chalkFor } from '../render/colors.js'
import type { BenchResult, CompareRow } from './result.js'

/**
 * The human report on stderr: cli-table3 tables of latency, rates, totals, errors, settings;
 * `--histogram` adds a bar chart; `--compare` a table of deltas. Colour only on a TTY and
 * never with NO_COLOR (FORCE_COLOR wins, as everywhere in stmpcat).
 */

/** Colour for the report on stderr: the one rule of render/colors.ts (FORCE_COLOR levels included). */
export function stderrChalk(env: NodeJS.ProcessEnv = process.env, isTTY = process.stderr.isTTY === true): ChalkInstance {
  return chalkFor({ isTTY }, env)
}

/** Milliseconds with microsecond precision. */
export function ms(value: number): string {
  return `${value.toFixed(3)} ms`
}

function num(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? Math.round(v) : v.toFixed(2)} ${units[i]}`
}

function table(c: ChalkInstance, head: string[]): Table.Table {
  return new Table({
    head: head.map((h) => c.bold(h)),
    style: { head: [], border: [], compact: true },
  }) as Table.Table
}

function describeSettings(r: BenchResult): string {
  const s = r.settings
  const parts = [
    `${s.connections} connection${s.connections === 1 ? '' : 's'}`,
    `pipelining ${s.pipelining}`,
    s.durationMs !== null ? `${s.durationMs / 1000}s` : null,
    s.amount !== null ? `${num(s.amount)} ${s.mode === 'push' ? 'pushes' : 'requests'}` : null,
    s.rate !== null ? `rate ${num(s.rate)}/s (open model)` : 'closed model',
    s.warmupMs > 0 ? `warm-up ${s.warmupMs / 1000}s` : null,
    `${s.workers} worker${s.workers === 1 ? '' : 's'}`,
    `timeout ${s.timeoutMs / 1000}s`,
  ]
  return parts.filter((p) => p !== null).join(', ')
}

export function renderReport(r: BenchResult, c: ChalkInstance, options: { histogram?: boolean } = {}): string {
  const out: string[] = []
  const target = r.target.embedded ? `embedded echo server (StmpServer, worker thread) at ${r.target.url}` : r.target.url
  out.push(`${c.bold('stmpcat bench')} ${r.settings.mode === 'push' ? 'push throughput' : `${r.settings.action}`} -> ${target}`)
  out.push(`${describeSettings(r)}; ${r.settings.contentType}, ${r.settings.payloadBytes}-byte payload${r.target.transport.includes('WebSocket') ? `, ${r.settings.format} messages` : ''}`)
  const of = r.settings.durationMs !== null ? ` of ${(r.settings.durationMs / 1000).toFixed(2)} s` : ''
  if (r.end.reason === 'interrupted') {
    out.push(c.red.bold(`INTERRUPTED (SIGINT) after ${(r.elapsedMs / 1000).toFixed(2)} s${of}: partial results`))
  }
  if (r.end.connectionsLost > 0) {
    out.push(c.red.bold(r.end.early && r.end.reason !== 'interrupted'
      ? `ENDED EARLY after ${(r.elapsedMs / 1000).toFixed(2)} s${of}: every connection gave up redialling (${num(r.end.connectionsLost)} lost)`
      : `CONNECTIONS LOST: ${num(r.end.connectionsLost)} of ${num(r.settings.connections)} were down, failing to redial, when sending stopped`))
  }

  if (r.settings.mode === 'request') {
    const lat = table(c, ['Latency', 'p50', 'p75', 'p90', 'p99', 'p99.9', 'p99.99', 'max', 'mean', 'stdev'])
    const l = r.latency
    lat.push(['', ms(l.p50), ms(l.p75), ms(l.p90), ms(l.p99), ms(l.p99_9), ms(l.p99_99), ms(l.max), ms(l.mean), ms(l.stdev)])
    out.push(lat.toString())
  }

  const rates = table(c, ['Per second', 'mean', 'stdev', 'min', 'max', 'overall'])
  const q = r.requestsPerSecond
  rates.push([r.settings.mode === 'push' ? 'Pushes sent' : 'Requests', num(q.mean), num(q.stdev), num(q.min), num(q.max), num(q.overall)])
  for (const [label, t] of [['Bytes in', r.throughput.inBytesPerSecond], ['Bytes out', r.throughput.outBytesPerSecond]] as const) {
    rates.push([label, bytes(t.mean), bytes(t.stdev), bytes(t.min), bytes(t.max), bytes(t.overall)])
  }
  out.push(rates.toString())

  const t = r.totals
  if (r.settings.mode === 'request') {
    // Every request due is in one column: never sent, answered in time, timed out (late ones
    // included), or lost with its connection.
    const requests = table(c, ['Requests', 'due', 'sent', 'unsent', 'answered', '2xx', 'non-2xx', 'timed out', 'late', 'lost'])
    const lostInFlight = r.errors.byKind.reset + r.errors.byKind.protocol + r.errors.byKind.cancelled
    requests.push(['', t.due === null ? '-' : num(t.due), num(t.sent), num(t.unsent), num(t.responses), num(t.ok), num(t.non2xx), num(t.timedOut), num(t.late), num(lostInFlight)])
    out.push(requests.toString())
  }
  const push = r.settings.mode === 'push'
  const totals = table(c, ['Totals', ...(push ? ['sent'] : []), 'bytes in', 'bytes out', 'time'])
  totals.push(['', ...(push ? [num(t.sent)] : []), bytes(t.bytesIn), bytes(t.bytesOut), `${(r.elapsedMs / 1000).toFixed(2)} s`])
  out.push(totals.toString())
  if (r.settings.mode === 'push') out.push(`pushes sent ${num(t.pushesSent)}, pushes received ${num(t.pushesReceived)}`)

  const k = r.errors.byKind
  const statuses = Object.entries(r.errors.byStatus)
  if (statuses.length > 0 || k.timeout + k.refused + k.reset + k.protocol + k.cancelled + t.unsent > 0) {
    const errs = table(c, ['Errors', 'count'])
    for (const [status, n] of statuses) errs.push([`status ${status}`, num(n)])
    errs.push(['timeout (late answers included)', num(k.timeout)], ['connection refused (attempts)', num(k.refused)], ['reset (in flight at close)', num(k.reset)], ['protocol', num(k.protocol)])
    if (k.cancelled > 0) errs.push(['cancelled (in flight at Ctrl-C)', num(k.cancelled)])
    if (t.unsent > 0) errs.push(['due, never sent (-R)', num(t.unsent)])
    out.push(errs.toString())
    out.push(`error rate ${(r.errors.rate * 100).toFixed(3)}%`)
  } else {
    out.push(`errors: none (error rate ${(r.errors.rate * 100).toFixed(3)}%)`)
  }
  if (options.histogram && r.latency.samples > 0) out.push(renderHistogram(r, c))
  if (r.compare !== null) out.push(renderCompare(r.compare.rows, r.compare.file, c, r.compare.comparable))
  for (const g of r.gates) {
    out.push(`${g.passed ? c.green('pass') : c.red('FAIL')} --${g.name} ${g.limit}: ${g.value}`)
  }
  return `${out.join('\n')}\n`
}

/** A bar chart of the latency distribution in logarithmic bins (`--histogram`). */
export function renderHistogram(r: BenchResult, c: ChalkInstance, width = 40): string {
  const h = decodeHistogram(r.histogram.data)
  const bins = latencyBins(h, 16)
  h.destroy()
  const most = Math.max(...bins.map((b) => b.count))
  const total = bins.reduce((a, b) => a + b.count, 0)
  const lines = ['Latency distribution (ms)']
  for (const b of bins) {
    const bar = '█'.repeat(most === 0 ? 0 : Math.round((b.count / most) * width))
    const pct = total === 0 ? 0 : (b.count / total) * 100
    lines.push(`${(b.fromUs / 1000).toFixed(3).padStart(10)} - ${(b.toUs / 1000).toFixed(3).padStart(10)} | ${c.cyan(bar.padEnd(width))} ${num(b.count).padStart(10)} ${pct.toFixed(2).padStart(6)}%`)
  }
  return lines.join('\n')
}

export function renderCompare(rows: CompareRow[], file: string, c: ChalkInstance, comparable = true): string {
  const t = table(c, ['Compared with', 'before', 'now', 'change'])
  for (const row of rows) {
    const change = !comparable ? 'not comparable' : row.changePercent === null ? 'n/a' : `${row.changePercent > 0 ? '+' : ''}${row.changePercent.toFixed(1)}%`
    t.push([row.figure, row.before === null ? '-' : String(row.before), String(row.now), change])
  }
  const title = comparable ? `Compared with ${file}` : `Compared with ${file} (other settings: not comparable)`
  return `${c.bold(title)}\n${t.toString()}`
}
