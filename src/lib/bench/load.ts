import { performance } from 'node:perf_hooks'
import type { Histogram } from 'hdr-histogram-js'
import type { Dialect, RequestTemplate } from '../dialects/types.js'
import { StmpError } from '../errors.js'
import { type ConnectOptions, connect, dialectFor } from '../session/client.js'
import { DEFAULT_SESSION_OPTIONS } from '../session/options.js'
import type { CloseInfo, Session } from '../session/session.js'
import { isStreamScheme, parseAddress } from '../transport/index.js'
import { clampMicros, encodeHistogram, latencyHistogram } from './histogram.js'
import type { ErrorKinds, LoadPlan, RunnerReport, TickSample } from './types.js'

/**
 * The load generator's hot path (style.md: "The load generator does nothing per response").
 *
 * Each connection is a client Session in the run's dialect (LoadConnection below). With the
 * dialect's request template (Dialect.template) the request bytes are built once per connection
 * and a send copies them and patches the id; responses are found by the template's scanner.
 * Without one, a send goes through the dialect's Wire. Either way a response costs one ring lookup by id, one `performance.now()`, one
 * comparison with `--timeout` (a later answer is a timeout), one `recordValue` and two counters;
 * no closures, no JSON, no Map. Requests are timed from their
 * send time, or with `--rate` from their intended send time on the fixed schedule, so a stalled
 * server shows in the percentiles without phantom samples (one recorded latency per response).
 */

/** A ring slot with no request waiting. */
const FREE = -1
/** Ids run 1..65535 and wrap to 1 (wire notes §6). */
const MAX_ID = 65535
/** Pushes per write in `--push` mode (one buffer, one syscall). */
const PUSH_BATCH = 64
/** Push mode stops writing while this many bytes wait in the transport (goes on at drain). */
const PUSH_HIGH_WATER = 1024 * 1024
const RECONNECT_DELAY_MS = 200
/** Failed redials in a row before a connection gives up (10 x 200 ms). */
export const MAX_RECONNECT_FAILURES = 10
/** After SIGINT, how long requests in flight may still be answered (at most `--timeout`). */
export const INTERRUPT_GRACE_MS = 1000

export function nextPow2(n: number): number {
  let p = 1
  while (p < n) p <<= 1
  return p
}

export class LoadRunner {
  readonly histogram: Histogram = latencyHistogram()
  /** Measured counters. */
  sent = 0
  responses = 0
  bytesIn = 0
  bytesOut = 0
  pushesSent = 0
  pushesReceived = 0
  /** Responses by status (index = status; 999 holds anything above). */
  readonly statusCounts = new Uint32Array(1000)
  readonly kinds: ErrorKinds = { timeout: 0, refused: 0, reset: 0, protocol: 0, cancelled: 0 }
  /** Measured responses that arrived after `--timeout` (also counted in `kinds.timeout`). */
  late = 0
  /** `plan.timeoutMs`, read on every response. */
  readonly timeoutMs: number

  /** performance.now() when measuring starts; requests sent (or due) before it are warm-up. */
  measureStart = Number.POSITIVE_INFINITY
  measuring = false
  sending = false
  /** Requests in flight on all connections. */
  inflight = 0
  finished = false
  /** Sending is over for good (duration reached, amount sent). */
  stopped = false
  elapsedMs = 0
  /** SIGINT: sending stopped before the run was done. */
  interrupted = false
  /** Every connection gave up redialling before `-d` / `-n` was reached. */
  endedEarly = false
  /** Connections given up, or down with their last redial failed, when sending stopped. */
  connectionsLost = 0
  /** performance.now() when sending stopped (at most the end of `-d`); the schedule's due count ends here. */
  private stopAt?: number

  /** The run's dialect (loaded by connect()). */
  dialect?: Dialect
  readonly connections: LoadConnection[] = []
  private scheduler?: RateScheduler
  private sweepTimer?: NodeJS.Timeout
  private tickTimer?: NodeJS.Timeout
  private stopTimer?: NodeJS.Timeout
  private tickIndex = 0
  private last = { responses: 0, bytesIn: 0, bytesOut: 0, errors: 0 }
  private resolveDone?: () => void
  /** performance.now() at the end of `-d` (0: no duration, or not measuring yet). */
  endTime = 0
  private lastTickAt = 0
  private beginTimer?: NodeJS.Timeout
  private measureTimer?: NodeJS.Timeout
  private graceTimer?: NodeJS.Timeout

  constructor(readonly plan: LoadPlan, private readonly onTick: (sample: TickSample) => void = () => undefined) {
    this.timeoutMs = plan.timeoutMs
    if (isStreamScheme(parseAddress(plan.address).scheme) && plan.format === 'text') {
      throw new StmpError('BAD_FLAG', '--format text needs a WebSocket target (stream transports are binary only, docs/protocol.md §1)')
    }
    for (let i = 0; i < plan.connections; i++) this.connections.push(new LoadConnection(this))
  }

  /** What every connection dials with: the client options of fetch and connect, in the run's dialect. */
  connectOptions(): ConnectOptions {
    const plan = this.plan
    return {
      dialect: this.dialect ?? plan.dialect,
      dialectOptions: plan.dialectOptions,
      dialectFlags: plan.dialectFlags,
      contentType: plan.contentType,
      format: plan.format,
      serverLatency: plan.serverLatency,
      headers: plan.headers,
      token: plan.token,
      timeout: plan.connectTimeoutMs,
      tls: { ca: plan.tls.ca.length > 0 ? plan.tls.ca.map((pem) => Buffer.from(pem, 'utf8')) : undefined, insecure: plan.tls.insecure },
      // bench keeps its own send times and timeouts; the session only answers what the peer asks.
      keepalive: 0,
    }
  }

  /** Opens every connection. All failing throws the first error (CONNECT_FAILED, HANDSHAKE_REFUSED, TIMEOUT). */
  async connect(): Promise<void> {
    this.dialect ??= await dialectFor(parseAddress(this.plan.address), this.plan.dialect)
    const results = await Promise.allSettled(this.connections.map((c) => c.open()))
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed.length === results.length) {
      this.close()
      throw failed[0].reason
    }
    this.kinds.refused += failed.length
  }

  /** Runs warm-up and the measured phase from `startAt` (epoch ms, shared by all threads). */
  run(startAt: number): Promise<RunnerReport> {
    const plan = this.plan
    const t0 = startAt - performance.timeOrigin
    this.measureStart = t0 + plan.warmupMs
    return new Promise<RunnerReport>((resolve) => {
      this.resolveDone = () => resolve(this.report())
      const begin = () => {
        // A worker whose share of --amount is 0 has nothing to send.
        if (plan.amount === 0) this.stopped = true
        const now = performance.now()
        // A timer may fire up to a millisecond early: with no warm-up, measuring starts here,
        // with the first send, so no request falls before it.
        let start = t0
        if (plan.warmupMs === 0) {
          start = this.measureStart = now
          measure()
        }
        if (this.stopped) return
        this.sending = true
        for (const c of this.connections) {
          if (c.state === 'closed') c.scheduleReconnect()
        }
        if (plan.rate !== null) {
          this.scheduler = new RateScheduler(this, plan.rate, start)
          this.scheduler.dispatch(now)
        } else {
          for (const c of this.connections) if (c.state === 'open') c.fill(now)
        }
        const sweepEvery = Math.min(250, Math.max(10, plan.timeoutMs / 10))
        this.sweepTimer = setInterval(() => this.sweep(), sweepEvery)
      }
      const measure = () => {
        this.measuring = true
        this.lastTickAt = performance.now()
        if (this.stopped) {
          this.maybeDone()
          return
        }
        if (plan.durationMs !== null) {
          this.endTime = this.measureStart + plan.durationMs
          this.stopTimer = setTimeout(() => {
            // The last second's tick may be due at this very moment: post it before stopping.
            const boundary = this.measureStart + (this.tickIndex + 1) * 1000
            if (boundary <= this.endTime + 0.5 && boundary <= performance.now() + 1) {
              if (this.tickTimer !== undefined) clearTimeout(this.tickTimer)
              this.tick(boundary)
            }
            this.endOfDuration()
          }, Math.max(0, this.endTime - performance.now()))
        }
        this.armTick()
      }
      this.beginTimer = setTimeout(begin, Math.max(0, t0 - performance.now()))
      if (plan.warmupMs > 0) this.measureTimer = setTimeout(measure, Math.max(0, this.measureStart - performance.now()))
    })
  }

  /**
   * The end of `-d`. A timer can fire a millisecond or so early: then send on until the end, so
   * the requests due in that last millisecond go out instead of counting as unsent.
   */
  private endOfDuration(): void {
    if (this.stopped) return
    const left = this.endTime - performance.now()
    if (left > 0.05) {
      if (this.stopTimer !== undefined) clearTimeout(this.stopTimer)
      this.stopTimer = setTimeout(() => this.endOfDuration(), Math.max(1, Math.ceil(left)))
      return
    }
    // The last requests due before the end go out now, not counted as unsent.
    this.scheduler?.dispatch(performance.now())
    this.stopSending()
  }

  /** No more sends; the run ends when nothing is in flight (timeouts bound the wait). */
  stopSending(): void {
    if (this.stopAt === undefined) {
      const now = performance.now()
      // At the end of -d (a timer may fire a little early): the schedule ends there.
      this.stopAt = this.endTime > 0 && now >= this.endTime - 1 ? this.endTime : now
      for (const c of this.connections) if (c.lost()) this.connectionsLost++
    }
    this.stopped = true
    this.sending = false
    if (this.stopTimer !== undefined) clearTimeout(this.stopTimer)
    this.stopTimer = undefined
    this.scheduler?.stop()
    this.maybeDone()
  }

  maybeDone(): void {
    if (this.sending || this.finished || this.inflight > 0 || this.resolveDone === undefined) return
    if (!this.measuring && !this.interrupted) return
    this.finished = true
    this.elapsedMs = this.measuring ? performance.now() - this.measureStart : 0
    for (const t of [this.tickTimer, this.beginTimer, this.measureTimer, this.graceTimer, this.stopTimer]) if (t !== undefined) clearTimeout(t)
    if (this.sweepTimer !== undefined) clearInterval(this.sweepTimer)
    this.close()
    this.resolveDone()
  }

  /**
   * SIGINT: stop sending now; requests in flight get INTERRUPT_GRACE_MS (at most --timeout) to
   * be answered, then count as `cancelled`, and the run ends with what it has.
   */
  interrupt(): void {
    if (this.finished || this.interrupted) return
    this.interrupted = true
    this.stopSending()
    if (this.finished || this.inflight === 0) return
    this.graceTimer = setTimeout(() => {
      for (const c of this.connections) c.cancel()
      this.inflight = 0
      this.maybeDone()
    }, Math.min(this.plan.timeoutMs, INTERRUPT_GRACE_MS))
  }

  /** A slot was freed (response, timeout, loss): send the next request. */
  onFree(conn: LoadConnection, now: number): void {
    if (!this.sending) {
      if (this.inflight === 0) this.maybeDone()
      return
    }
    if (this.scheduler !== undefined) this.scheduler.dispatch(now)
    else if (conn.state === 'open') conn.send(now)
  }

  /** Every connection gave up redialling: stop (the run ends with what it has). */
  connectionGaveUp(): void {
    if (!this.stopped && this.connections.every((c) => c.gaveUp)) {
      this.endedEarly = true
      this.stopSending()
    }
  }

  /** Counts a measured send; stops at `--amount`. */
  countSend(bytes: number): void {
    this.sent++
    this.bytesOut += bytes
    if (this.plan.amount !== null && this.sent >= this.plan.amount) this.stopSending()
  }

  close(): void {
    for (const c of this.connections) c.close()
  }

  private sweep(): void {
    const now = performance.now()
    const timeout = this.plan.timeoutMs
    for (const c of this.connections) c.sweep(now, timeout)
  }

  private armTick(): void {
    const boundary = this.measureStart + (this.tickIndex + 1) * 1000
    this.tickTimer = setTimeout(() => this.tick(boundary), Math.max(0, boundary - performance.now()))
  }

  private failedCount(): number {
    let ok = 0
    for (let s = 200; s < 300; s++) ok += this.statusCounts[s]
    return this.kinds.timeout + this.kinds.reset + this.kinds.protocol + this.kinds.cancelled + (this.responses - ok)
  }

  private tick(boundary: number): void {
    if (this.finished) return
    const now = performance.now()
    const responses = this.plan.push ? this.pushesSent : this.responses
    const errors = this.failedCount()
    // A timer can fire late on a busy loop: scale the counts to a true per-second rate.
    const scale = 1000 / Math.max(1, now - this.lastTickAt)
    // A second only counts if the load ran through all of it.
    if (this.sending || boundary <= this.endTime + 1) {
      this.onTick({
        second: this.tickIndex,
        responses: Math.round((responses - this.last.responses) * scale),
        bytesIn: Math.round((this.bytesIn - this.last.bytesIn) * scale),
        bytesOut: Math.round((this.bytesOut - this.last.bytesOut) * scale),
        errors: errors - this.last.errors,
      })
    }
    this.last = { responses, bytesIn: this.bytesIn, bytesOut: this.bytesOut, errors }
    this.lastTickAt = now
    this.tickIndex++
    if (this.plan.durationMs !== null && boundary >= this.endTime - 0.5) {
      this.endOfDuration()
      return
    }
    if (this.sending) this.armTick()
  }

  report(): RunnerReport {
    const byStatus: Record<string, number> = {}
    let ok = 0
    for (let s = 0; s < this.statusCounts.length; s++) {
      const n = this.statusCounts[s]
      if (n === 0) continue
      byStatus[String(s)] = n
      if (s >= 200 && s < 300) ok += n
    }
    let due: number | null = null
    if (this.plan.rate !== null) {
      // Sent, plus the backlog: requests due before sending stopped that never went out.
      due = this.sent + (this.scheduler?.backlog(this.stopAt ?? performance.now(), this.measureStart) ?? 0)
      if (this.plan.amount !== null) due = Math.max(this.sent, Math.min(due, this.plan.amount))
    }
    return {
      histogram: encodeHistogram(this.histogram),
      sent: this.sent,
      responses: this.responses,
      ok,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      pushesSent: this.pushesSent,
      pushesReceived: this.pushesReceived,
      byStatus,
      kinds: { ...this.kinds },
      elapsedMs: this.elapsedMs,
      late: this.late,
      due,
      connectionsLost: this.connectionsLost,
      endedEarly: this.endedEarly,
      interrupted: this.interrupted,
    }
  }
}

/**
 * How early (ms) a request may go out: with a response's wake or a timer's, the requests due
 * within this window go too, so a request rarely needs a wake of its own (timers have ~1 ms
 * resolution anyway). One sent early is timed from when it went out, never from its later due
 * time, so its latency is not understated.
 */
const EARLY_MS = 1

/** The open model (`--rate`): request k is due at t0 + k / rate, whatever the server does. */
class RateScheduler {
  private readonly interval: number
  private k = 0
  private timer?: NodeJS.Timeout
  private rr = 0
  private readonly run = () => {
    this.timer = undefined
    this.dispatch(performance.now())
  }

  constructor(private readonly runner: LoadRunner, rate: number, private readonly t0: number) {
    this.interval = 1000 / rate
  }

  /** Sends every request that is due, on free connections; a late request keeps its due time. */
  dispatch(now: number): void {
    const r = this.runner
    while (r.sending) {
      const due = this.t0 + this.k * this.interval
      // Nothing after the end of -d is due in this run.
      if (r.endTime > 0 && due >= r.endTime) return
      if (due > now + EARLY_MS) {
        // Lateness (a busy loop, a timer firing late) is part of the measured latency.
        if (this.timer === undefined) this.timer = setTimeout(this.run, Math.max(1, Math.floor(due - now)))
        return
      }
      const conn = this.pickFree()
      // All connections busy: the backlog waits for a response (latency keeps counting).
      if (conn === undefined) return
      this.k++
      conn.send(due < now ? due : now)
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Requests due before `stopAt` (and not before `measureStart`) that were never sent. */
  backlog(stopAt: number, measureStart: number): number {
    // Request k is due before stopAt when k < (stopAt - t0) / interval.
    // (Less a hair: 2000 ms at 100,000/s is 200,000 requests, not 200,001 from a rounding error.)
    const dueBy = Math.ceil((stopAt - this.t0) / this.interval - 1e-6)
    const firstMeasured = Math.max(0, Math.ceil((measureStart - this.t0) / this.interval - 1e-6))
    return Math.max(0, Math.min(dueBy - this.k, dueBy - firstMeasured))
  }

  private pickFree(): LoadConnection | undefined {
    const conns = this.runner.connections
    const n = conns.length
    const p = this.runner.plan.pipelining
    for (let i = 0; i < n; i++) {
      const c = conns[(this.rr + i) % n]
      if (c.state === 'open' && c.inflight < p) {
        this.rr = (this.rr + i + 1) % n
        return c
      }
    }
    return undefined
  }
}

type ConnState = 'idle' | 'handshake' | 'open' | 'closed'

/**
 * One load connection: a client Session (session/client.ts `connect`: the dialect's negotiation,
 * ping answers, server requests, close and protocol errors exist once, there) with bench's own
 * id ring on top. With the dialect's request template a send is a copy and an id patch, and
 * responses are found by the template's scanner; without one, a send is Wire.request and an
 * answer comes from the Wire (Session.attachLoad).
 */
export class LoadConnection {
  state: ConnState = 'idle'
  inflight = 0
  /** Send time (or intended send time) by ring slot; FREE when no request waits there. */
  private readonly sendTime: Float64Array
  /** The id of the request in each slot (a late or unknown response does not match). */
  private readonly slotId: Uint16Array
  /** The id of the last measured request the sweep timed out in each slot (0: none), to count its response as late. */
  private readonly lateId: Uint16Array
  private readonly mask: number
  /** Ids run 1..maxId (65,535, or the dialect's id space if smaller). */
  private maxId = MAX_ID
  private nextId = 1
  private session?: Session
  private template?: RequestTemplate
  private readonly payload: Buffer
  private reconnectTimer?: NodeJS.Timeout
  private pushWaiting = false
  reconnectFailures = 0
  /** Redialling failed MAX_RECONNECT_FAILURES times in a row: this connection is out of the run. */
  gaveUp = false

  constructor(private readonly runner: LoadRunner) {
    const plan = runner.plan
    const ringSize = nextPow2(Math.max(2, plan.pipelining * 2))
    this.mask = ringSize - 1
    this.sendTime = new Float64Array(ringSize).fill(FREE)
    this.slotId = new Uint16Array(ringSize)
    this.lateId = new Uint16Array(ringSize)
    this.payload = Buffer.from(plan.payload.buffer, plan.payload.byteOffset, plan.payload.byteLength)
  }

  /** Dials and negotiates in the run's dialect (CONNECT_FAILED, HANDSHAKE_REFUSED, HANDSHAKE_TIMEOUT, ...). */
  async open(): Promise<void> {
    const r = this.runner
    this.state = 'handshake'
    const session = await connect(r.plan.address, r.connectOptions()).catch((err: unknown) => {
      this.state = 'closed'
      throw err
    })
    this.session = session
    this.maxId = Math.min(MAX_ID, session.dialect.idSpace)
    this.nextId = 1
    this.lateId.fill(0)
    const plan = r.plan
    this.template = r.dialect?.template?.build(plan.action, this.payload, {
      framing: session.transport.framing,
      kind: plan.push ? 'push' : 'request',
      options: { ...session.agreed, format: plan.format, serverLatency: session.serverLatency, contentType: plan.contentType },
      fragmentSize: DEFAULT_SESSION_OPTIONS.fragmentSize,
    })
    session.onPush = this.onPush
    session.attachLoad({ answer: this.onAnswer, received: this.onReceived, drained: this.onDrain, template: plan.push ? undefined : this.template })
    void session.closed.then((info) => this.onClose(info))
    this.state = session.state === 'open' ? 'open' : 'closed'
  }

  /** Closed model: fill the pipeline. Push mode: start pumping. */
  fill(now: number): void {
    if (this.runner.plan.push) {
      this.pump()
      return
    }
    const p = this.runner.plan.pipelining
    while (this.inflight < p && this.runner.sending && this.state === 'open') this.send(now)
  }

  /** Sends one request due at `t` (ms, performance.now() time base). The caller checked a slot is free. */
  send(t: number): void {
    const mask = this.mask
    const sendTime = this.sendTime
    const maxId = this.maxId
    let id = this.nextId
    while (sendTime[id & mask] !== FREE) id = id === maxId ? 1 : id + 1
    this.nextId = id === maxId ? 1 : id + 1
    const slot = id & mask
    sendTime[slot] = t
    this.slotId[slot] = id
    this.inflight++
    const r = this.runner
    r.inflight++
    const session = this.session as Session
    const before = session.bytesQueued
    if (this.template !== undefined) session.writeTemplate(this.template, id)
    else session.sendWithId(id, r.plan.action, this.payload)
    if (t >= r.measureStart) r.countSend(session.bytesQueued - before)
  }

  /** One response for `id` (from the template's scanner or the Wire). */
  private readonly onAnswer = (id: number, status: number): void => {
    const slot = id & this.mask
    const t = this.sendTime[slot]
    const r = this.runner
    if (t === FREE || this.slotId[slot] !== id) {
      // Not waiting: the answer to a request the sweep timed out (late, counted once), or unknown.
      if (this.lateId[slot] === id) {
        this.lateId[slot] = 0
        r.late++
      }
      return
    }
    this.sendTime[slot] = FREE
    this.inflight--
    r.inflight--
    const now = performance.now()
    if (t >= r.measureStart) {
      if (now - t > r.timeoutMs) {
        // Past --timeout: a timeout that was answered late, not a success (and not a latency).
        r.kinds.timeout++
        r.late++
      } else {
        r.histogram.recordValue(clampMicros((now - t) * 1000))
        r.responses++
        r.statusCounts[status < 999 ? status : 999]++
      }
    }
    r.onFree(this, now)
  }

  private readonly onPush = (): void => {
    if (this.runner.measuring) this.runner.pushesReceived++
  }

  private readonly onReceived = (bytes: number): void => {
    const r = this.runner
    // Bytes received during the measured time (by arrival, as bytes out count by send time).
    if (r.measuring || performance.now() >= r.measureStart) r.bytesIn += bytes
  }

  private readonly onDrain = (): void => {
    if (this.pushWaiting) {
      this.pushWaiting = false
      this.pump()
    }
  }

  private onClose(info: CloseInfo): void {
    const wasOpen = this.state === 'open'
    this.state = 'closed'
    const r = this.runner
    if (r.finished) return
    // A protocol error (the peer's bytes broke the dialect) or the connection just went.
    const failure = info.error !== undefined && info.initiator === 'local' ? 'protocol' : 'reset'
    // Every request still waiting is an error of its kind (wire notes §10: nothing lost silently).
    const now = performance.now()
    let lost = 0
    for (let s = 0; s <= this.mask; s++) {
      const t = this.sendTime[s]
      if (t === FREE) continue
      this.sendTime[s] = FREE
      lost++
      if (t >= r.measureStart) r.kinds[failure]++
    }
    this.inflight = 0
    r.inflight -= lost
    if (wasOpen && r.sending) this.scheduleReconnect()
    r.onFree(this, now)
  }

  scheduleReconnect(): void {
    if (this.reconnectTimer !== undefined || this.runner.finished) return
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      const r = this.runner
      if (!r.sending || r.finished) return
      this.open().then(() => {
        this.reconnectFailures = 0
        if (r.finished) this.close()
        else if (r.sending) {
          if (r.plan.rate !== null) r.onFree(this, performance.now())
          else this.fill(performance.now())
        }
      }, () => {
        r.kinds.refused++
        this.state = 'closed'
        // Bounded: a target that stays down ends the run instead of holding it open forever.
        if (++this.reconnectFailures >= MAX_RECONNECT_FAILURES) {
          this.gaveUp = true
          r.connectionGaveUp()
        } else {
          this.scheduleReconnect()
        }
      })
    }, RECONNECT_DELAY_MS)
  }

  /** Times out requests older than `timeout` ms (from their send or intended time). */
  sweep(now: number, timeout: number): void {
    if (this.inflight === 0) return
    const r = this.runner
    for (let s = 0; s <= this.mask; s++) {
      const t = this.sendTime[s]
      if (t === FREE || now - t <= timeout) continue
      this.sendTime[s] = FREE
      this.inflight--
      r.inflight--
      if (t >= r.measureStart) {
        r.kinds.timeout++
        this.lateId[s] = this.slotId[s]
      }
      r.onFree(this, now)
    }
  }

  /** Down when sending stops: given up, or not open with its last redial failed. */
  lost(): boolean {
    return this.gaveUp || (this.state !== 'open' && this.reconnectFailures > 0)
  }

  /** SIGINT's grace time is over: what is still in flight is `cancelled`. */
  cancel(): void {
    const r = this.runner
    for (let s = 0; s <= this.mask; s++) {
      const t = this.sendTime[s]
      if (t === FREE) continue
      this.sendTime[s] = FREE
      if (t >= r.measureStart) r.kinds.cancelled++
    }
    this.inflight = 0
  }

  /** Push mode: batches of pushes while the transport takes them (stops at the high-water mark, goes on at drain). */
  private pump(): void {
    const r = this.runner
    const session = this.session
    let batches = 0
    while (r.sending && this.state === 'open' && session !== undefined && session.state === 'open') {
      const measured = performance.now() >= r.measureStart
      const before = session.bytesQueued
      for (let i = 0; i < PUSH_BATCH; i++) {
        if (this.template !== undefined) session.writeTemplate(this.template, this.takePushId())
        else session.push(r.plan.action, this.payload)
      }
      if (measured) {
        r.pushesSent += PUSH_BATCH
        const bytes = session.bytesQueued - before
        for (let i = 0; i < PUSH_BATCH; i++) r.countSend(i === 0 ? bytes : 0)
      }
      if (session.transport.bufferedAmount >= PUSH_HIGH_WATER) {
        this.pushWaiting = true
        return
      }
      if (++batches === 8) {
        // Let responses, timers and other connections run.
        setImmediate(() => this.pump())
        return
      }
    }
  }

  /** Pushes carry the sender's counter, for tracing only (wire notes §6). */
  private takePushId(): number {
    const id = this.nextId
    this.nextId = id === this.maxId ? 1 : id + 1
    return id
  }

  close(): void {
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer)
    this.reconnectTimer = undefined
    const session = this.session
    if (session === undefined || this.state === 'closed') return
    this.state = 'closed'
    // The dialect's close (v3: the Close frame, or the WebSocket close frame).
    void session.close(1000, 'bench done')
  }
}
