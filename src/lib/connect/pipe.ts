import { isUtf8 } from 'node:buffer'
import { fstatSync } from 'node:fs'
import { ExitCode, StmpError } from '../errors.js'
import { type PayloadCodec, decodePayload, toJsonSafe } from '../payload/index.js'
import { rawMember } from './json-member.js'
import type { Link, LinkEvents } from '../session/reconnect.js'
import type { IncomingRequest, ResponseInfo, Session } from '../session/session.js'

/**
 * `stmpcat connect` in a pipe: NDJSON (or `ACTION JSON`) lines in, one NDJSON line out per
 * response, per push or request from the server, per error. Many requests go through one
 * connection, `concurrency` of them in flight. docs/connect.md describes the line shapes.
 *
 * The hot path does little per line: lines are cut from the input chunk by indexOf, parsed
 * once, and output lines are built as strings and written in one write per tick (or per
 * 64 KiB), honouring stdout's backpressure by holding back new requests.
 */

export interface PipeOptions {
  codec: PayloadCodec
  /** Requests in flight at once; 1 keeps the output in input order. */
  concurrency: number
  /** Per-request timeout in ms. */
  timeout: number
  /** After the last reply, keep listening for pushes this many ms before closing. */
  wait: number
  /** Re-send requests that were in flight when the connection dropped (up to MAX_TRIES). */
  retry: boolean
  /** Answer requests from the server with this status (and an empty payload). */
  autoReply?: number
  /** Exit 0 whenever the session itself worked (see exitCode). */
  noFail: boolean
  /** Print reconnect events as NDJSON lines with a `kind`. */
  events: boolean
  output: NodeJS.WritableStream
  /** Diagnostics (stderr). */
  log(message: string): void
}

export interface PipeSummary {
  lines: number
  requests: number
  ok: number
  status4xx: number
  status5xx: number
  timeouts: number
  connectionErrors: number
  protocolErrors: number
  badInput: number
  exitCode: ExitCode
  /**
   * Why the session failed for good (connection refused, dropped without --reconnect, gave
   * up re-dialling), when that decides the exit code; undefined after a Close 1000 from the
   * server. The command reports it the way every command reports an error.
   */
  failure?: StmpError
}

/** `id` is the JSON text of the line's id (the line number when it had none); `given` only the line's own. */
type Job =
  | { kind: 'request'; line: number; id: string; action: string; payload: Buffer; tries: number; seq: number }
  | { kind: 'push'; line: number; given?: string; action: string; payload: Buffer }
  /** A dialect command beyond the core model (join, leave, broadcast, ...): Session.command. */
  | { kind: 'command'; line: number; given?: string; name: string; args: Record<string, unknown> }
  | ReplyJob
  | { kind: 'bad'; line: number; given?: string; error: StmpError }

/**
 * A reply line never waits in the queue for a concurrency slot (the request it answers may be
 * what holds the slot). `after`: how many request lines came before it; when the request it
 * answers has not come yet, it waits until those requests are settled.
 */
type QueuedJob = Exclude<Job, ReplyJob>

interface ReplyJob { kind: 'reply'; line: number; given?: string; to: number; status: number; payload: Buffer; after: number }

/** Times a request is sent when `--retry` re-sends it after a drop. */
export const MAX_TRIES = 3
/** Parsed lines waiting to be sent past which reading stops (and starts again below LOW). */
const QUEUE_HIGH = 8192
const QUEUE_LOW = 1024
const FLUSH_BYTES = 64 * 1024
/** 16 digits in a row: a number that may not survive JSON.parse (2^53 has 16 digits). */
const LONG_NUMBER = /\d{16}/

/** Batches output lines: one write per tick, or inline past FLUSH_BYTES. */
export class LineWriter {
  blocked = false
  private parts: string[] = []
  private size = 0
  private scheduled = false

  constructor(private readonly stream: NodeJS.WritableStream, private readonly onUnblock: () => void = () => undefined) {}

  line(text: string): void {
    if ((this.stream as { destroyed?: boolean }).destroyed) return
    this.parts.push(text)
    this.size += text.length
    if (this.size >= FLUSH_BYTES) this.flush()
    else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  flush(): void {
    this.scheduled = false
    if (this.parts.length === 0) return
    const text = this.parts.length === 1 ? `${this.parts[0]}\n` : `${this.parts.join('\n')}\n`
    this.parts = []
    this.size = 0
    if (!this.stream.write(text) && !this.blocked) {
      this.blocked = true
      this.stream.once('drain', () => {
        this.blocked = false
        this.onUnblock()
      })
    }
  }

  /** Flushes and resolves once the stream took everything (at once when it is gone). */
  end(): Promise<void> {
    if ((this.stream as { destroyed?: boolean }).destroyed) return Promise.resolve()
    this.flush()
    return new Promise((resolve) => this.stream.write('', () => resolve()))
  }
}

/**
 * `/join ROOM`, `/leave ROOM`, `/broadcast ROOM TEXT` (the pipe's and the prompt's syntax for the
 * dialect commands of a dialect with rooms); undefined for any other slash command.
 */
export function roomCommand(text: string): { name: string; args: Record<string, unknown> } | undefined {
  const m = /^\/(join|leave|broadcast)(?:\s+(\S+))?(?:\s+([\s\S]*))?$/.exec(text.trim())
  if (!m) return undefined
  const args: Record<string, unknown> = { room: m[2] ?? '' }
  if (m[1] === 'broadcast') args.payload = Buffer.from(m[3] ?? '', 'utf8')
  return { name: m[1], args }
}

/** An event's data for a JSON line: a Buffer as JSON when it is JSON, else as text (or hex when not UTF-8). */
export function eventJson(data: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(data)) {
    if (!Buffer.isBuffer(v)) {
      out[k] = v
      continue
    }
    const text = v.toString('utf8')
    if (!isUtf8(v)) out[`${k}Hex`] = v.toString('hex')
    else {
      try { out[k] = JSON.parse(text) } catch { out[k] = text }
    }
  }
  return out
}

function errorJson(error: StmpError, extra?: Record<string, unknown>, line?: number): string {
  const e: Record<string, unknown> = { code: error.code, message: error.message }
  if (error.status !== undefined) e.status = error.status
  if (line !== undefined) e.line = line
  return JSON.stringify({ ...extra, error: e })
}

function toError(err: unknown): StmpError {
  return err instanceof StmpError ? err : new StmpError('INTERNAL', err instanceof Error ? err.message : String(err))
}

const NOBODY_REPLIES = 'stmpcat connect: input ended, nobody can reply'
const CONNECTION_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_RESET', 'CONNECT_FAILED', 'HANDSHAKE_REFUSED'])

export class PipeRunner {
  readonly summary: PipeSummary = {
    lines: 0, requests: 0, ok: 0, status4xx: 0, status5xx: 0, timeouts: 0, connectionErrors: 0, protocolErrors: 0, badInput: 0, exitCode: ExitCode.OK,
  }
  private readonly out: LineWriter
  private queue: QueuedJob[] = []
  private head = 0
  private inFlight = 0
  private inputEnded = false
  private inputPaused = false
  private input?: NodeJS.ReadableStream
  private waitingForLink = false
  private link?: Link
  private finished = false
  /** The link failed for good: queued and later lines are reported failed, not sent. */
  private failed = false
  /** Request lines read so far (the next request's seq). */
  private requestSeq = 0
  /** Every request with a seq below this is settled (answered or reported); above it, `settledAbove`. */
  private settledBelow = 0
  private readonly settledAbove = new Set<number>()
  /** Reply lines waiting for the request they answer. */
  private heldReplies: ReplyJob[] = []
  /** Input chunks read so far (the drain after a failure stops when none came for a loop turn). */
  private chunks = 0
  /** The server ended the last session with Close 1000 (not a failure by itself). */
  private closedCleanly = false
  private resolveDone?: () => void
  private readonly serverRequests = new Map<number, IncomingRequest>()
  private readonly isJson: boolean
  private readonly requestOptions: { timeout: number }
  /** JSON.stringify of each action seen (actions repeat: one string per action, not per line). */
  private readonly actionJson = new Map<string, string>()

  constructor(private readonly options: PipeOptions) {
    this.out = new LineWriter(options.output, () => this.pump())
    this.isJson = options.codec.name === 'json'
    this.requestOptions = { timeout: options.timeout }
  }

  /** Events to give the Link: wire each new session, report drops and re-dials. */
  linkEvents(): LinkEvents {
    return {
      prepare: (session) => this.attach(session),
      onOpen: (_session, info) => {
        if (info.reconnected) {
          this.options.log(`reconnected${info.attempt > 0 ? ` (attempt ${info.attempt})` : ''}`)
          if (this.options.events) this.out.line(JSON.stringify({ kind: 'connect', attempt: info.attempt }))
        }
        this.pump()
      },
      onDrop: (info) => {
        this.closedCleanly = info.code === 1000 && info.initiator === 'remote'
        const how = info.initiator === 'remote' ? 'the server closed the connection' : 'connection lost'
        this.options.log(`${how} (${info.code}${info.message ? ` ${info.message}` : ''})`)
        if (this.options.events) this.out.line(JSON.stringify({ kind: 'disconnect', code: info.code, message: info.message }))
      },
      onFail: () => this.onLinkFailed(),
      onRetry: ({ attempt, delay, error }) => {
        this.options.log(`${error.message}; reconnecting in ${delay} ms (attempt ${attempt})`)
        if (this.options.events) this.out.line(JSON.stringify({ kind: 'reconnect', attempt, delay }))
      },
    }
  }

  /** Reads `input` to its end, runs every line through `link`, closes with 1000. */
  async run(input: NodeJS.ReadableStream, link: Link): Promise<PipeSummary> {
    this.link = link
    this.input = input
    const done = new Promise<void>((resolve) => { this.resolveDone = resolve })
    link.ready().catch(() => this.onLinkFailed())
    // Bytes, not text: a line that is not valid UTF-8 is reported, not sent with U+FFFD in it.
    let rest: Buffer[] = []
    input.on('data', (chunk: Buffer | string) => {
      if (this.inputEnded) return
      this.chunks++
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk
      const last = bytes.lastIndexOf(0x0a)
      if (last === -1) {
        rest.push(bytes)
        return
      }
      const block = rest.length > 0 ? Buffer.concat([...rest, bytes.subarray(0, last)]) : bytes.subarray(0, last)
      rest = last + 1 < bytes.length ? [Buffer.from(bytes.subarray(last + 1))] : []
      this.addLines(block)
      if (this.queue.length - this.head > QUEUE_HIGH && !this.inputPaused) {
        this.inputPaused = true
        input.pause()
      }
      this.pump()
    })
    input.on('end', () => {
      if (this.inputEnded) return
      if (rest.length > 0) this.addLines(Buffer.concat(rest))
      rest = []
      this.endInput()
    })
    // stdout closed by the reader (`| head -3`: EPIPE): stop reading and sending, close cleanly.
    this.options.output.on('error', () => {
      input.pause()
      this.queue = []
      this.head = 0
      this.heldReplies = []
      this.endInput()
    })
    input.on('error', (err: Error) => {
      this.options.log(`cannot read input: ${err.message}`)
      this.endInput()
    })
    await done
    if (this.options.wait > 0 && link.state !== 'failed') await new Promise((r) => setTimeout(r, this.options.wait))
    await link.close(1000, '')
    this.summary.exitCode = this.exitCode()
    if (link.state === 'failed' && link.error && !this.closedCleanly) this.summary.failure = link.error
    await this.out.end()
    return this.summary
  }

  // ---- input ----

  /** Complete lines (the last one's newline already cut off). */
  private addLines(block: Buffer): void {
    if (isUtf8(block)) {
      const text = block.toString('utf8')
      let start = 0
      let nl = text.indexOf('\n')
      while (nl !== -1) {
        this.addLine(text.slice(start, nl))
        start = nl + 1
        nl = text.indexOf('\n', start)
      }
      this.addLine(start === 0 ? text : text.slice(start))
      return
    }
    let start = 0
    for (;;) {
      const nl = block.indexOf(0x0a, start)
      const bytes = block.subarray(start, nl === -1 ? block.length : nl)
      if (isUtf8(bytes)) this.addLine(bytes.toString('utf8'))
      else {
        const line = ++this.summary.lines
        this.queue.push(bad(line, `line ${line} is not valid UTF-8`))
      }
      if (nl === -1) return
      start = nl + 1
    }
  }

  private addLine(raw: string): void {
    const line = ++this.summary.lines
    const text = raw.charCodeAt(raw.length - 1) === 13 ? raw.slice(0, -1) : raw
    if (text.trim() === '') return
    const job = this.parseLine(text, line)
    if (job.kind === 'reply') this.reply(job)
    else this.queue.push(job)
  }

  private parseLine(text: string, line: number): Job {
    if (text.charCodeAt(0) !== 0x7b /* { */) {
      const first = text.trimStart().charCodeAt(0)
      // A JSON array or string is not a request: `[1,2]` is not the action "[1,2]".
      if (first === 0x5b /* [ */ || first === 0x22 /* " */) return bad(line, `line ${line} is not a JSON object (a line is {"action": ...}, {"push": true, ...}, {"reply": ...} or ACTION JSON)`)
      if (first !== 0x7b) return this.parseTerminalSyntax(text.trim(), line)
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      return bad(line, `line ${line} is not valid JSON: ${(err as Error).message}`)
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad(line, `line ${line} is not a JSON object`)
    const o = value as Record<string, unknown>
    const given = o.id === undefined ? undefined : JSON.stringify(o.id)
    const id = given ?? `${line}`
    if (o.reply !== undefined) {
      if (!Number.isInteger(o.reply) || !Number.isInteger(o.status ?? 200)) return bad(line, `line ${line}: "reply" needs the request's id and an integer "status"`, given)
      let payload: Buffer
      try {
        payload = this.encode(o.payload, '', 'response', line)
      } catch (err) {
        return { kind: 'bad', line, given, error: toError(err) }
      }
      return { kind: 'reply', line, given, to: o.reply as number, status: (o.status ?? 200) as number, payload, after: this.requestSeq }
    }
    if (o.command !== undefined) {
      if (typeof o.command !== 'string' || o.command === '') return bad(line, `line ${line}: "command" must be a dialect command's name (join, leave, broadcast, ...)`, given)
      const { command: name, id: _id, ...args } = o
      return { kind: 'command', line, given, name, args }
    }
    const action = o.action
    if (typeof action !== 'string' || action === '' || action.includes('\n')) {
      return bad(line, `line ${line}: "action" must be a non-empty string without a newline`, given)
    }
    let payload: Buffer
    try {
      // JSON: a line with a long digit run (a number JSON.parse may have rounded) sends the
      // payload's own text from the line, so integers beyond 2^53 keep every digit; others
      // send the parsed value re-serialised (faster than scanning the line).
      const raw = this.isJson && o.payload !== undefined && LONG_NUMBER.test(text) ? rawMember(text, 'payload') : undefined
      payload = raw !== undefined ? Buffer.from(raw, 'utf8') : this.encode(o.payload, action, o.push === true ? 'push' : 'request', line)
    } catch (err) {
      return { kind: 'bad', line, given, error: toError(err) }
    }
    if (o.push === true) return { kind: 'push', line, given, action, payload }
    return { kind: 'request', line, id, action, payload, tries: 0, seq: this.requestSeq++ }
  }

  /** `ACTION JSON` and `/push ACTION JSON`, as typed at the prompt. */
  private parseTerminalSyntax(text: string, line: number): Job {
    let rest = text
    let push = false
    if (rest.startsWith('/push ')) {
      push = true
      rest = rest.slice(6).trimStart()
    } else if (rest.startsWith('/')) {
      const command = roomCommand(rest)
      if (command !== undefined) return { kind: 'command', line, ...command }
      return bad(line, `line ${line}: ${rest.split(/\s/)[0]} is not a pipe command (use /push ACTION JSON, /join ROOM, /leave ROOM, /broadcast ROOM TEXT or a JSON object)`)
    }
    const space = rest.search(/\s/)
    const action = space === -1 ? rest : rest.slice(0, space)
    const data = space === -1 ? '' : rest.slice(space + 1).trim()
    const role = push ? 'push' : 'request'
    let payload: Buffer
    try {
      payload = this.options.codec.fromText(data, { action, role })
    } catch (err) {
      return { kind: 'bad', line, error: withLine(toError(err), line) }
    }
    return push ? { kind: 'push', line, action, payload } : { kind: 'request', line, id: String(line), action, payload, tries: 0, seq: this.requestSeq++ }
  }

  private encode(value: unknown, action: string, role: 'request' | 'push' | 'response', line: number): Buffer {
    if (value === undefined) return Buffer.alloc(0)
    if (this.isJson) return Buffer.from(JSON.stringify(value), 'utf8')
    try {
      return this.options.codec.encode(value, { action, role })
    } catch (err) {
      throw withLine(toError(err), line)
    }
  }

  // ---- dispatch ----

  private pump(): void {
    if (this.finished) return
    if (this.failed) this.failQueued()
    const max = this.options.concurrency
    while (this.head < this.queue.length && !this.out.blocked) {
      const job = this.queue[this.head]
      if (job.kind === 'request' && this.inFlight >= max) break
      const session = this.link?.current
      if (!session || session.state !== 'open' || this.link?.state !== 'open') {
        this.waitForLink()
        break
      }
      this.queue[this.head++] = undefined as unknown as QueuedJob
      this.dispatch(job, session)
    }
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
    if (this.inputPaused && this.queue.length - this.head < QUEUE_LOW) {
      this.inputPaused = false
      this.input?.resume()
    }
    if (this.inputEnded && this.head >= this.queue.length && this.inFlight === 0) {
      this.finished = true
      this.expireReplies(true)
      this.resolveDone?.()
    }
  }

  /**
   * Pumps again once there is an open session. A session that is closing (the server's Close
   * came first) is not one: openSession() waits for the link to re-dial or fail, never
   * resolving with it (resolving with it spun pump() and this in a loop of microtasks).
   */
  private waitForLink(): void {
    if (this.waitingForLink || !this.link) return
    this.waitingForLink = true
    this.link.openSession().then(() => {
      this.waitingForLink = false
      this.pump()
    }, () => {
      this.waitingForLink = false
      this.onLinkFailed()
    })
  }

  private dispatch(job: QueuedJob, session: Session): void {
    switch (job.kind) {
      case 'bad':
        this.summary.badInput++
        this.out.line(errorJson(job.error, given(job), job.line))
        return
      case 'push':
        session.push(job.action, job.payload)
        return
      case 'command':
        try {
          session.command(job.name, job.args)
        } catch (err) {
          this.summary.badInput++
          this.out.line(errorJson(toError(err), given(job), job.line))
        }
        return
      case 'request':
        break
    }
    this.inFlight++
    if (job.tries === 0) this.summary.requests++
    job.tries++
    session.request(job.action, job.payload, this.requestOptions).then(
      (res) => this.onResponse(job, res),
      (err: unknown) => this.onRequestError(job, toError(err)),
    )
  }

  // ---- replies to requests from the server ----

  /** A reply line: answers its request at once, or waits for it (see ReplyJob). */
  private reply(job: ReplyJob): void {
    const request = this.serverRequests.get(job.to)
    if (request) {
      this.serverRequests.delete(job.to)
      request.respond(job.status, job.payload)
      return
    }
    if (this.failed) return this.failJob(job)
    if (job.after > this.settledBelow) {
      this.heldReplies.push(job)
      return
    }
    // Nothing sent before it can still bring the request: an error line, in input order.
    this.queue.push({ kind: 'bad', line: job.line, given: job.given, error: noSuchRequest(job) })
  }

  /** A held reply for `request`, taken out of the waiting list. */
  private takeHeldReply(id: number): ReplyJob | undefined {
    const i = this.heldReplies.findIndex((r) => r.to === id)
    return i === -1 ? undefined : this.heldReplies.splice(i, 1)[0]
  }

  /** Reports the held replies whose earlier requests are all settled (`all`: every one). */
  private expireReplies(all = false): void {
    if (this.heldReplies.length === 0) return
    const keep: ReplyJob[] = []
    for (const job of this.heldReplies) {
      if (all || job.after <= this.settledBelow) this.noSuchRequest(job)
      else keep.push(job)
    }
    this.heldReplies = keep
  }

  private noSuchRequest(job: ReplyJob): void {
    this.summary.badInput++
    this.out.line(errorJson(noSuchRequest(job), given(job), job.line))
  }

  /** Request `seq` has its outcome (a response, or a reported error). */
  private settle(seq: number): void {
    if (seq === this.settledBelow) {
      this.settledBelow++
      while (this.settledAbove.size > 0 && this.settledAbove.delete(this.settledBelow)) this.settledBelow++
    } else {
      this.settledAbove.add(seq)
    }
    if (this.heldReplies.length > 0) this.expireReplies()
  }

  /** The last line is read: no reply line can come, so requests from the server get 503 now. */
  private endInput(): void {
    this.inputEnded = true
    for (const request of this.serverRequests.values()) request.respond(503, Buffer.from(NOBODY_REPLIES))
    this.serverRequests.clear()
    this.pump()
  }

  // ---- outcomes ----

  private onResponse(job: Job & { kind: 'request' }, res: ResponseInfo): void {
    this.inFlight--
    const status = res.status
    if (status >= 200 && status < 300) this.summary.ok++
    else if (status >= 500) this.summary.status5xx++
    else this.summary.status4xx++
    let payload: string
    let extra = ''
    try {
      payload = this.payloadJson(res.payload, job.action, 'response', status)
    } catch (err) {
      // The server sent a payload that is not in the connection's content type.
      this.summary.protocolErrors++
      const e = toError(err)
      payload = JSON.stringify(res.payload.toString('utf8'))
      extra = `,"error":{"code":${JSON.stringify(e.code)},"message":${JSON.stringify(e.message)}}`
    }
    const latency = Math.round(res.elapsed * 1000) / 1000
    const server = res.latency === null ? '' : `,"serverLatency":${res.latency}`
    let action = this.actionJson.get(job.action)
    if (action === undefined) {
      action = JSON.stringify(job.action)
      if (this.actionJson.size < 10_000) this.actionJson.set(job.action, action)
    }
    this.out.line(`{"id":${job.id},"action":${action},"status":${status},"latency":${latency}${server},"payload":${payload}${extra}}`)
    this.settle(job.seq)
    this.pump()
  }

  private onRequestError(job: Job & { kind: 'request' }, error: StmpError): void {
    this.inFlight--
    const dropped = error.code === 'CONNECTION_CLOSED' || error.code === 'CONNECTION_RESET'
    if (dropped && this.options.retry && job.tries < MAX_TRIES && this.link?.state !== 'failed' && this.link?.state !== 'closed') {
      // Sent again ahead of everything still queued, so order holds at concurrency 1.
      if (this.head > 0) this.queue[--this.head] = job
      else this.queue.unshift(job)
      this.pump()
      return
    }
    this.countError(error)
    this.out.line(errorJson(error, { id: JSON.parse(job.id) as unknown, action: job.action }))
    this.settle(job.seq)
    this.pump()
  }

  private countError(error: StmpError): void {
    if (error.exitCode === ExitCode.TIMEOUT) this.summary.timeouts++
    else if (CONNECTION_CODES.has(error.code) || error.exitCode === ExitCode.CONNECT) this.summary.connectionErrors++
    else this.summary.protocolErrors++
  }

  /**
   * The link gave up (or never came up): every line read so far is reported failed, and so is
   * every line that had reached the input by then (see drainInput); later ones are not read.
   */
  private onLinkFailed(): void {
    if (this.finished || this.failed || !this.link || this.link.state !== 'failed') return
    this.failed = true
    for (const job of this.heldReplies.splice(0)) this.failJob(job)
    this.drainInput()
    this.pump()
  }

  private failQueued(): void {
    while (this.head < this.queue.length) {
      const job = this.queue[this.head]
      this.queue[this.head++] = undefined as unknown as QueuedJob
      this.failJob(job)
    }
  }

  /** One line that cannot be sent: the session failed for good. */
  private failJob(job: Job): void {
    if (job.kind === 'bad') {
      this.summary.badInput++
      this.out.line(errorJson(job.error, given(job), job.line))
      return
    }
    const error = this.link?.error ?? new StmpError('CONNECTION_CLOSED', 'the connection is closed')
    this.countError(error)
    if (job.kind === 'request') {
      if (job.tries === 0) this.summary.requests++
      this.out.line(errorJson(error, { id: JSON.parse(job.id) as unknown, action: job.action }))
      this.settle(job.seq)
    } else if (job.kind === 'push') {
      this.out.line(errorJson(error, { ...given(job), action: job.action }, job.line))
    } else {
      this.out.line(errorJson(error, given(job), job.line))
    }
  }

  /**
   * After a failure: what has reached the input already is still read (and reported), so
   * `echo LINE | stmpcat connect URL` reports LINE even when the refusal came before stdin's
   * first read. A regular file is read to its end; a pipe or terminal until a turn of the event
   * loop brings no more data (a `tail -f` is not waited for).
   */
  private drainInput(): void {
    const input = this.input
    if (this.inputEnded || !input) return
    this.inputPaused = false
    input.resume()
    if (isRegularFile(input)) return
    const check = (seen: number) => setImmediate(() => setImmediate(() => {
      if (this.inputEnded) return
      if (this.chunks !== seen) return check(this.chunks)
      input.pause()
      this.endInput()
    }))
    check(this.chunks)
  }

  // ---- from the server ----

  private attach(session: Session): void {
    this.serverRequests.clear()
    session.onPush = (push) => {
      this.out.line(`{"kind":"push","action":${JSON.stringify(push.action)},"payload":${this.safePayloadJson(push.payload, push.action, 'push')}}`)
    }
    // A dialect event beyond the core model (a room joined, a broadcast, an Error message): one line, its fields as JSON.
    session.onEvent = (name, data) => this.out.line(JSON.stringify({ kind: 'event', event: name, ...eventJson(data) }))
    session.onRequest = (request) => {
      const held = this.options.autoReply === undefined ? this.takeHeldReply(request.id) : undefined
      const status = this.options.autoReply ?? held?.status ?? (this.inputEnded ? 503 : undefined)
      this.out.line(`{"kind":"request","id":${request.id},"action":${JSON.stringify(request.action)},"payload":${this.safePayloadJson(request.payload, request.action, 'request')}${status === undefined ? '' : `,"replied":${status}`}}`)
      if (held) request.respond(held.status, held.payload)
      else if (this.options.autoReply !== undefined) request.respond(this.options.autoReply, Buffer.alloc(0))
      else if (this.inputEnded) request.respond(503, Buffer.from(NOBODY_REPLIES))
      else this.serverRequests.set(request.id, request)
    }
  }

  private payloadJson(bytes: Buffer, action: string, role: 'request' | 'push' | 'response', status?: number): string {
    if (this.isJson && (status === undefined || (status >= 200 && status < 300))) {
      if (bytes.length === 0) return 'null'
      const text = bytes.toString('utf8')
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (err) {
        throw new StmpError('BAD_PAYLOAD', `the ${role} payload is not valid JSON: ${(err as Error).message}`)
      }
      // Valid JSON without CR or LF is one line as it is (JSON strings cannot hold raw line
      // breaks): print the server's text unchanged, else re-serialise it onto one line.
      return bytes.indexOf(0x0a) === -1 && bytes.indexOf(0x0d) === -1 ? text.trim() : JSON.stringify(value)
    }
    const value = decodePayload(this.options.codec, bytes, { action, role, status })
    return JSON.stringify(toJsonSafe(value)) ?? 'null'
  }

  private safePayloadJson(bytes: Buffer, action: string, role: 'request' | 'push'): string {
    try {
      return this.payloadJson(bytes, action, role)
    } catch {
      return JSON.stringify(bytes.toString('utf8'))
    }
  }

  /**
   * The exit code, most serious first: the session failed (could not connect, dropped without
   * --reconnect, gave up re-dialling: its own code, 3 for connection errors); requests lost to
   * a dropped connection (3); protocol errors (5); timeouts (4); any 5xx (7); any 4xx or other
   * non-2xx (6); bad input lines (2). --no-fail keeps only the first.
   */
  exitCode(): ExitCode {
    const s = this.summary
    // A server that closes with 1000 ended the session normally: whatever it cut short is
    // counted below (requests lost, lines not sent), not the close itself.
    if (this.link?.state === 'failed' && this.link.error && !this.closedCleanly) return this.link.error.exitCode
    if (this.options.noFail) return ExitCode.OK
    if (s.connectionErrors > 0) return ExitCode.CONNECT
    if (s.protocolErrors > 0) return ExitCode.PROTOCOL
    if (s.timeouts > 0) return ExitCode.TIMEOUT
    if (s.status5xx > 0) return ExitCode.STATUS_5XX
    if (s.status4xx > 0) return ExitCode.STATUS_4XX
    if (s.badInput > 0) return ExitCode.USAGE
    return ExitCode.OK
  }
}

function bad(line: number, message: string, given?: string): QueuedJob {
  return { kind: 'bad', line, given, error: new StmpError('BAD_INPUT', message) }
}

/** `{ id }` when the line gave one (an error line never gets an id its line did not have). */
function given(job: { given?: string }): { id?: unknown } | undefined {
  return job.given === undefined ? undefined : { id: JSON.parse(job.given) as unknown }
}

function noSuchRequest(job: ReplyJob): StmpError {
  return new StmpError('BAD_INPUT', `line ${job.line}: no request ${job.to} from the server is waiting for a reply`)
}

function isRegularFile(input: NodeJS.ReadableStream): boolean {
  const fd = (input as { fd?: unknown }).fd
  if (typeof fd !== 'number') return false
  try {
    return fstatSync(fd).isFile()
  } catch {
    return false
  }
}

function withLine(error: StmpError, line: number): StmpError {
  return new StmpError(error.code, `line ${line}: ${error.message}`, { exitCode: error.exitCode, cause: error })
}
