import type { Dialect, DialectOptions, MessageMeta, NegotiationDecision, RequestTemplate, TraceFrame, Wire, WireOutput, WireSink } from '../dialects/types.js'
import { StmpError, WireError } from '../errors.js'
import type { Transport, TransportCloseInfo } from '../transport/index.js'
import { IdMap } from './id-map.js'
import { DEFAULT_SESSION_OPTIONS, type SessionOptions } from './options.js'

/**
 * One connection, the same code on both ends and in every dialect: requests correlated by id,
 * timeouts, in-flight limits, pushes, pings and keep-alive, close, backpressure, the write queue.
 * The bytes are the dialect's: a Wire (dialects/types.ts) made for this connection frames,
 * negotiates and encodes; the session sees only it and the Transport interface. Payloads are
 * bytes (payload codecs sit above it).
 */

export type Format = 'binary' | 'text'

export interface IncomingRequest {
  id: number
  action: string
  payload: Buffer
  /** The format it arrived in: the response goes back in it (wire notes §1). */
  format: Format
  /** What the dialect said about it beyond the core model (headers, type, ...). */
  meta?: MessageMeta
  /** performance.now() when it arrived; the latency field measures from here. */
  receivedAt: number
  /** `headers`: the response's own (MessageMeta.responseHeaders), for a dialect whose responses carry them. */
  respond(status: number, payload?: Buffer, headers?: Record<string, string>): void
}

export interface IncomingPush {
  id: number
  action: string
  payload: Buffer
  format: Format
  meta?: MessageMeta
}

export interface ResponseInfo {
  id: number
  action: string
  status: number
  /** The server's latency field in ms, null when not negotiated. */
  latency: number | null
  payload: Buffer
  /** Round trip measured here, in ms. */
  elapsed: number
  meta?: MessageMeta
}

export interface CloseInfo {
  code: number
  message: string
  /** Who started the close: this side, the peer, or the transport dropping. */
  initiator: 'local' | 'remote' | 'transport'
  /** The protocol error that caused it, when there was one. */
  error?: StmpError
  /**
   * The code of the peer's Close (on WebSocket its close frame); undefined when none arrived.
   * A local close that gets the peer's Close back was clean both ways (wire notes §6).
   */
  remoteCode?: number
  /** The reason (message) of the peer's Close, when one arrived. */
  remoteReason?: string
  /**
   * Bytes of frames this side queued that never reached the kernel: the connection ended (or
   * was cut) before they were written. 0 when everything queued went out.
   */
  unsent: number
}

export interface SessionStats {
  bytesIn: number
  bytesOut: number
  requestsIn: number
  requestsOut: number
  responsesIn: number
  responsesOut: number
  pushesIn: number
  pushesOut: number
  /** Last ping round trip in ms. */
  rtt: number | null
  openedAt: number
}

export type SessionState = 'handshake' | 'open' | 'closing' | 'closed'

/**
 * How `call()` reports: `(null, response)` or `(error)`, exactly once, never synchronously from
 * inside `call()` itself.
 */
export type ResponseCallback = (error: Error | null, response?: ResponseInfo) => void

interface Pending {
  action: string
  sentAt: number
  /** performance.now() past which the request fails with TIMEOUT; 0: waits forever. */
  deadline: number
  callback: ResponseCallback
}

interface Waiting {
  action: string
  payload: Buffer
  timeout?: number
  meta?: MessageMeta
  callback: ResponseCallback
}

/** How many of the first bytes received an error about a failed handshake shows. */
const PREVIEW_BYTES = 64
/** Past this many queued bytes a flush happens inline instead of at the end of the tick. */
const INLINE_FLUSH_BYTES = 32 * 1024
/** Template frames up to this size go into the shared pool (as a Wire's small frames do). */
const POOLED_TEMPLATE_MAX = 4 * 1024
const EMPTY = Buffer.alloc(0)
/**
 * Small frames are encoded into a pool shared by every session of the process (as Buffer.allocUnsafe
 * does for small Buffers), one region per session and flush: no Buffer per frame and no concat
 * per flush. A region handed to a socket is never written again; a new pool is taken when full.
 */
const POOL_SIZE = 64 * 1024
let pool = Buffer.allocUnsafeSlow(POOL_SIZE)
let poolUsed = 0
let nextSessionId = 1

export interface SessionDialect {
  dialect: Dialect
  /** The values of the dialect's own flags (content type, format, token, headers, ...). */
  options?: DialectOptions
}

/**
 * A load generator's hold on a session (bench): it allocates the ids of its requests itself and
 * keeps their send times, so the session keeps no pending entry, timer or callback for them.
 * Handshake, ping answers, server requests, close and protocol errors stay the session's.
 */
export interface LoadHooks {
  /** The response to a request sent with sendWithId() or writeTemplate(). */
  answer(id: number, status: number): void
  /** Bytes read from the transport (before anything is decoded). */
  received?(bytes: number): void
  /** The transport drained (for a sender that stopped at the high-water mark). */
  drained?(): void
  /** The dialect's request template: its scanner finds responses in stream bytes before the Wire decodes the rest. */
  template?: RequestTemplate
}

export class Session {
  readonly id = nextSessionId++
  state: SessionState
  /** Handshake URL (path and query) and headers, keys lower-cased. */
  url = '/'
  headers: Record<string, string> = {}
  /** The handshake URL and headers as the client sent them (headers may later be the server's). */
  sentHandshake: { url: string; headers: Record<string, string> } = { url: '/', headers: {} }
  contentType = 'application/json'
  /** What the negotiation agreed beyond the content type (dialect-specific: server latency, gzip, ...). */
  agreed: Record<string, unknown> = {}
  readonly stats: SessionStats
  /** Free for the layer above (rooms a server connection joined, ...). */
  readonly data = new Map<string, unknown>()
  readonly dialect: Dialect

  onRequest?: (request: IncomingRequest) => void
  onPush?: (push: IncomingPush) => void
  /** A dialect event beyond the core model (room join/leave/broadcast, ack, transaction, ...). */
  onEvent?: (name: string, data: Record<string, unknown>) => void
  /** Every frame in and out, for `--log` and `-v`; unset costs nothing. */
  onTrace?: (direction: 'in' | 'out', frame: TraceFrame) => void
  /** Server, in-band negotiation: decides the client's handshake (status 200 accepts). */
  onHandshake?: (handshake: { url: string; headers: Record<string, string> }) => NegotiationDecision
  onOpen?: () => void

  readonly closed: Promise<CloseInfo>
  private resolveClosed!: (info: CloseInfo) => void
  private readonly options: SessionOptions
  private readonly wire: Wire
  private readonly idSpace: number
  private serverLatencyOn: boolean
  private nextMessageId = 0
  private readonly pending = new IdMap<Pending>()
  private readonly waiting: Waiting[] = []
  /**
   * One timer for every request deadline, armed for the earliest one. With one timeout for
   * all requests each new deadline is later than the armed one, so sending and answering a
   * request touch no timer at all (a setTimeout + clearTimeout pair per request was a tenth of
   * the client's time at 16 requests in flight).
   */
  private deadlineTimer?: NodeJS.Timeout
  private deadlineAt = Infinity
  private readonly pings = new Map<number, { sentAt: number; timer: NodeJS.Timeout; resolve(rtt: number): void; reject(e: Error): void }>()
  private nextPingId = 0
  private incoming = 0
  private paused = false
  private readonly queue: Buffer[] = []
  private queueBytes = 0
  /** This session's frames in `pool` not yet queued: [openStart, openEnd) of openPool. */
  private openPool: Buffer | null = null
  private openStart = 0
  private openEnd = 0
  private flushScheduled = false
  /**
   * True while a chunk from a stream transport is being decoded: frames sent meanwhile
   * (responses of synchronous handlers) are flushed once the chunk is done, without a nextTick.
   */
  private batching = false
  /**
   * performance.now() when the data being decoded arrived (while `batching`): the arrival time of
   * every frame in it, and the send time of every request sent while handling them (they go out
   * together at the end of the batch). One clock read per read from the socket, not two per request.
   */
  private batchTime = 0
  /** The WebSocket transport is corked until the next flush (messages of one tick, one write). */
  private corked = false
  private readonly stream: boolean
  private readonly flushTick = () => this.flush()
  private readonly fragments: Buffer[][] = []
  private keepaliveTimer?: NodeJS.Timeout
  private closeSent = false
  /**
   * A Close waiting for the fragments queued before it (wire notes §6: nothing queued is lost
   * to a close); `answer`: it answers the peer's Close, so the transport ends once it is out.
   */
  private pendingClose?: { code: number; message: string; answer: boolean }
  /** While closing: cuts the transport when nothing moves (flushTimeout) or no Close comes back (closeTimeout). */
  private closeTimer?: NodeJS.Timeout
  private closeCode = 1000
  private closeMessage = ''
  private closeInitiator: CloseInfo['initiator'] = 'transport'
  private closeError?: StmpError
  private remoteCode?: number
  private remoteReason?: string
  private handshakeWaiter?: { resolve(): void; reject(e: Error): void }
  /** The session was open once (the handshake finished, or the WebSocket upgrade did). */
  private handshakeDone = false
  private transportError?: Error
  /** The first bytes received before the handshake finished (up to PREVIEW_BYTES), for errors. */
  private firstBytes = EMPTY
  private firstBytesTotal = 0
  private load?: LoadHooks
  /** Our Close was the stream's end (the dialect has no Close message). */
  private closeByEnd = false

  constructor(readonly transport: Transport, dialect: SessionDialect, options: Partial<SessionOptions> = {}) {
    this.options = { ...DEFAULT_SESSION_OPTIONS, ...options, limits: { ...DEFAULT_SESSION_OPTIONS.limits, ...options.limits } }
    this.dialect = dialect.dialect
    this.idSpace = this.dialect.idSpace
    this.stream = transport.framing === 'stream'
    this.serverLatencyOn = this.options.serverLatency
    this.stats = { bytesIn: 0, bytesOut: 0, requestsIn: 0, requestsOut: 0, responsesIn: 0, responsesOut: 0, pushesIn: 0, pushesOut: 0, rtt: null, openedAt: Date.now() }
    this.closed = new Promise((resolve) => { this.resolveClosed = resolve })
    this.wire = this.dialect.open({
      role: this.options.role,
      framing: transport.framing,
      options: { format: this.options.format, serverLatency: this.options.serverLatency, ...dialect.options },
      limits: this.options.limits,
      fragmentSize: this.options.fragmentSize,
      out: this.output(),
      sink: this.sink(),
    })
    this.state = this.wire.initial
    // Attached a microtask later, not here: what a peer sent before (a server speaking first,
    // replayed by the transport at attach) then reaches the handlers the creator sets right after
    // the constructor (connect()'s prepare: a pipe's onEvent/onPush), not a session without them.
    // Until attach the transport keeps what arrives (WebSocket) or leaves it in the socket (streams).
    queueMicrotask(() => transport.attach({
      onData: (data, text) => this.onData(data, text),
      onDrain: () => this.onDrain(),
      onClose: (info) => this.onTransportClose(info),
    }))
  }

  /** The dialect's own figures for this connection (Wire.stats; empty when it has none). */
  dialectStats(): Record<string, number | null> {
    return this.wire.stats?.() ?? {}
  }

  get serverLatency(): boolean {
    return this.serverLatencyOn
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.size
  }

  /**
   * Marks a session whose negotiation was the WebSocket upgrade (or was done elsewhere) open;
   * a dialect whose server speaks first says its hello now and opens when the exchange is done.
   */
  accept(url: string, headers: Record<string, string>, decision: Partial<NegotiationDecision> = {}): void {
    this.url = url
    this.headers = headers
    this.sentHandshake = { url, headers }
    if (decision.contentType) this.contentType = decision.contentType
    if (decision.agreed) this.applyAgreed(decision.agreed)
    this.wire.accepted?.({ url, headers }, { status: 200, message: 'OK', ...decision })
    if (this.wire.initial === 'open' && !this.handshakeDone) this.open()
  }

  /** Client: starts the dialect's negotiation and waits for the server's answer (wire notes §8). */
  handshake(url: string, headers: Record<string, string>, timeout = 10_000): Promise<void> {
    this.url = url
    this.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
    this.sentHandshake = { url, headers: this.headers }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new StmpError('HANDSHAKE_TIMEOUT', `no handshake answer within ${timeout} ms; ${this.firstBytesText()}`))
        this.transport.destroy()
      }, timeout)
      this.handshakeWaiter = {
        resolve: () => { clearTimeout(timer); resolve() },
        reject: (e) => { clearTimeout(timer); reject(e) },
      }
      this.wire.start({ url, headers })
      if (this.state === 'open') this.handshakeWaiter.resolve()
    })
  }

  /** Sends a request; resolves with the response, rejects with a coded StmpError. */
  request(action: string, payload: Buffer = EMPTY, options?: { timeout?: number; meta?: MessageMeta }): Promise<ResponseInfo> {
    return new Promise<ResponseInfo>((resolve, reject) => {
      this.call(action, payload, (error, response) => {
        if (error !== null) reject(error)
        else resolve(response as ResponseInfo)
      }, options)
    })
  }

  /**
   * request() with a callback instead of a Promise: the same correlation, timeout, in-flight
   * limit and failure on close, without a Promise, closure and microtask per request (load
   * generators send hundreds of thousands a second).
   */
  call(action: string, payload: Buffer, callback: ResponseCallback, options?: { timeout?: number; meta?: MessageMeta }): void {
    if (this.state !== 'open') {
      process.nextTick(callback, this.notOpenError())
      return
    }
    if (this.pending.size >= this.options.maxInFlight) {
      if (this.waiting.length >= this.options.maxQueued) {
        process.nextTick(callback, new StmpError('BACKPRESSURE', `more than ${this.options.maxQueued} requests waiting for one of ${this.options.maxInFlight} in-flight slots`))
        return
      }
      this.waiting.push({ action, payload, timeout: options?.timeout, meta: options?.meta, callback })
      return
    }
    this.sendRequest(action, payload, options?.timeout, options?.meta, callback)
  }

  /** Sends a push (fire and forget; the id is for tracing, wire notes §6). */
  push(action: string, payload: Buffer = Buffer.alloc(0), meta?: MessageMeta): void {
    if (this.state !== 'open') throw this.notOpenError()
    this.stats.pushesOut++
    this.wire.push(this.allocateId(), action, payload, meta)
  }

  /** A dialect command beyond the core model (join a room, broadcast, ...); BAD_INPUT when the dialect has none. */
  command(name: string, args: Record<string, unknown> = {}): void {
    if (this.state !== 'open') throw this.notOpenError()
    if (!this.wire.command) throw new StmpError('BAD_INPUT', `${this.dialect.title} has no ${name} (\`stmpcat dialects\` says what each dialect has)`)
    this.wire.command(name, args)
  }

  /**
   * Hands this session's responses to a load generator (LoadHooks): from now on every response
   * goes to `hooks.answer`, and requests are sent with sendWithId() / writeTemplate().
   */
  attachLoad(hooks: LoadHooks): void {
    this.load = hooks
  }

  /** A request with the caller's id through the Wire (LoadHooks: the answer goes to `answer`). */
  sendWithId(id: number, action: string, payload: Buffer): void {
    this.stats.requestsOut++
    this.wire.request(id, action, payload)
  }

  /** A template's frame with `id` patched in, into the write queue (bench's fast path). */
  writeTemplate(template: RequestTemplate, id: number): void {
    const bytes = template.bytes
    if (this.stream && bytes.length <= POOLED_TEMPLATE_MAX) {
      const pos = this.reserve(bytes.length)
      bytes.copy(pool, pos)
      template.patch(pool, pos, id)
      return
    }
    // A WebSocket message is framed (and masked into a copy) at once; a large stream frame
    // waits in the queue, so it gets its own copy.
    const frame = this.stream ? Buffer.from(bytes) : (this.templateFrame?.[0] === bytes ? this.templateFrame[1] : this.templateCopy(bytes))
    template.patch(frame, 0, id)
    this.writeOut(frame, template.text)
  }

  private templateFrame?: [Buffer, Buffer]

  private templateCopy(bytes: Buffer): Buffer {
    const copy = Buffer.from(bytes)
    this.templateFrame = [bytes, copy]
    return copy
  }

  /** Bytes this session has written or queued (a load generator counts a send by the difference). */
  get bytesQueued(): number {
    return this.stats.bytesOut + this.queueBytes
  }

  /** Pings the peer; resolves with the round trip in ms. No answer in pingTimeout closes. */
  ping(): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (this.state !== 'open') {
        reject(this.notOpenError())
        return
      }
      let id = this.nextPingId
      do id = (id % 0xffff) + 1
      while (this.pings.has(id))
      this.nextPingId = id
      const timer = setTimeout(() => {
        this.pings.delete(id)
        const error = new StmpError('PING_TIMEOUT', `no answer to ping ${id} within ${this.options.pingTimeout} ms`)
        reject(error)
        this.closeError = error
        void this.close(1001, 'ping timeout')
        setTimeout(() => this.transport.destroy(), 50).unref()
      }, this.options.pingTimeout)
      this.pings.set(id, { sentAt: performance.now(), timer, resolve, reject })
      this.wire.ping(id)
    })
  }

  /**
   * Closes with a code and message: sends the dialect's Close (on WebSocket the close frame),
   * stops sending, and ends the transport when the peer's Close arrives or after closeTimeout.
   */
  close(code = 1000, message = ''): Promise<CloseInfo> {
    if (this.state === 'closed' || this.state === 'closing') return this.closed
    this.closeInitiator = 'local'
    this.closeCode = code
    this.closeMessage = message
    this.state = 'closing'
    this.sendClose(code, message, false)
    return this.closed
  }

  /**
   * Server, before the negotiation is done: answers it with `status` (a 4xx or 5xx) and ends the
   * connection (Close 1008 in the close info; no Close frame before a handshake).
   */
  refuseHandshake(status: number, message: string): void {
    if (this.state !== 'handshake' || this.options.role !== 'server') return
    this.wire.refuse(status, message)
    this.closeInitiator = 'local'
    this.closeCode = 1008
    this.closeMessage = `handshake refused: ${status} ${message}`
    this.state = 'closing'
    this.flush()
    this.transport.end()
  }

  /** Incoming#respond: the answer to a request from the peer (once; later calls are ignored by Incoming). */
  answer(request: IncomingRequest, status: number, body: Buffer, headers?: Record<string, string>): void {
    this.incoming--
    const meta = headers === undefined || Object.keys(headers).length === 0 ? request.meta : { ...request.meta, responseHeaders: headers }
    this.sendResponse(request.id, status, body, meta, request.receivedAt)
    if (this.paused) this.updateReading()
  }

  // ---- the wire's two sides: what it reports, and where it writes ----

  private sink(): WireSink {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const session = this
    return {
      opened: (info) => this.onOpened(info),
      refused: (status, message) => this.onRefused(status, message),
      negotiate: (request) => this.onNegotiate(request),
      request: (id, action, payload, meta) => this.onIncomingRequest(id, action, payload, meta),
      response: (id, status, payload, meta) => this.onResponse(id, status, payload, meta),
      push: (action, payload, meta) => this.onIncomingPush(action, payload, meta),
      ping: (id) => this.onPing(id),
      pong: (id) => this.onPong(id),
      close: (code, message) => this.onClose(code, message),
      event: (name, data) => this.onEvent?.(name, data),
      error: (err) => this.onProtocolError(err),
      trace: (direction, frame) => this.onTrace?.(direction, frame),
      get tracing() { return session.onTrace !== undefined },
    }
  }

  private output(): WireOutput {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const session = this
    return {
      write: (bytes, text) => this.writeOut(bytes, text === true),
      get buffered() { return session.queueBytes + session.transport.bufferedAmount },
      reserve: (size) => this.reserve(size),
      get pool() { return pool },
      parts: (parts) => {
        this.fragments.push(parts)
        this.scheduleFlush()
      },
    }
  }

  // ---- receiving ----

  private onData(data: Buffer, text: boolean): void {
    this.stats.bytesIn += data.length
    this.load?.received?.(data.length)
    if (this.state === 'closed') return
    if (this.state === 'handshake') this.keepFirstBytes(data)
    if (!this.stream) {
      // WebSocket: one message at a time; what it makes goes out corked at the end of the tick.
      this.wire.receive(data, text)
      return
    }
    this.batching = true
    this.batchTime = performance.now()
    try {
      const template = this.load?.template
      if (template !== undefined && this.state === 'open' && this.wire.buffered === 0) {
        // bench: whole responses found without decoding; the Wire takes over at anything else.
        const pos = template.scan(data, 0, data.length, this.load!.answer)
        if (pos > 0) this.wire.skipped?.(pos)
        if (pos < data.length) this.wire.receive(pos === 0 ? data : data.subarray(pos), text)
      } else {
        this.wire.receive(data, text)
      }
    } finally {
      this.batching = false
    }
    if (this.flushScheduled) this.flush()
  }

  private onOpened(info: { url?: string; headers?: Record<string, string>; contentType?: string; agreed?: Record<string, unknown> }): void {
    if (this.state !== 'handshake') return
    if (info.url !== undefined) this.url = info.url
    if (info.headers) this.headers = info.headers
    if (info.contentType) this.contentType = info.contentType
    if (info.agreed) this.applyAgreed(info.agreed)
    this.open()
    this.handshakeWaiter?.resolve()
  }

  private onRefused(status: number, message: string): void {
    const error = new StmpError('HANDSHAKE_REFUSED', `handshake refused: ${status} ${message}`, { status })
    this.closeError = error
    this.handshakeWaiter?.reject(error)
    this.transport.end()
  }

  private onNegotiate(request: { url: string; headers: Record<string, string> }): NegotiationDecision {
    const decision = this.onHandshake?.(request) ?? { status: 200, message: 'OK' }
    if (decision.status !== 200) this.refuseHandshake(decision.status, decision.message)
    return decision
  }

  private onIncomingRequest(id: number, action: string, payload: Buffer, meta: MessageMeta | undefined): void {
    if (this.state !== 'open' && this.state !== 'closing') return
    this.stats.requestsIn++
    // After our Close we send nothing more (docs/protocol.md §8): a request that crossed it is
    // not run; the peer's pending request fails when the transport ends.
    if (this.closeSent) return
    const receivedAt = this.now()
    if (!this.onRequest) {
      this.sendResponse(id, 404, Buffer.from(`no handler for ${action}`), meta, receivedAt)
      return
    }
    this.incoming++
    if (this.incoming >= this.options.maxIncoming) this.updateReading()
    this.onRequest(new Incoming(this, id, action, payload, meta, receivedAt))
  }

  private onIncomingPush(action: string, payload: Buffer, meta: MessageMeta | undefined): void {
    if (this.state !== 'open' && this.state !== 'closing') return
    this.stats.pushesIn++
    this.onPush?.({ id: typeof meta?.id === 'number' ? meta.id : 0, action, payload, format: meta?.format ?? 'binary', meta })
  }

  private onResponse(id: number, status: number, payload: Buffer, meta: MessageMeta | undefined): void {
    if (this.state !== 'open' && this.state !== 'closing') return
    this.stats.responsesIn++
    if (this.load !== undefined) return this.load.answer(id, status)
    const pending = this.pending.get(id)
    // A response to a request that timed out (or never was) is dropped: its caller was told.
    if (!pending) return
    this.pending.delete(id)
    pending.callback(null, {
      id, action: pending.action, status, latency: meta?.latency ?? null,
      payload, elapsed: this.now() - pending.sentAt, meta,
    })
    this.drainWaiting()
  }

  private onPing(id: number): void {
    // A dialect with no pong kind answers a Ping with a Ping of the same id (v3, wire notes §6).
    if (this.pings.has(id)) return this.onPong(id)
    if (this.state === 'open') this.wire.pong(id)
  }

  private onPong(id: number): void {
    const own = this.pings.get(id)
    if (!own) return
    this.pings.delete(id)
    clearTimeout(own.timer)
    const rtt = performance.now() - own.sentAt
    this.stats.rtt = rtt
    own.resolve(rtt)
  }

  private onClose(code: number, message: string): void {
    if (this.state === 'closed') return
    this.remoteCode = code
    this.remoteReason = message
    if (this.pendingClose) {
      // The peer closed before our Close went out (it waits behind our fragments): the close is
      // the peer's, not an answer to ours. Ours follows the fragments, then we end.
      this.closeInitiator = 'remote'
      this.pendingClose.answer = true
      return
    }
    if (!this.closeSent) {
      // The peer started it: answer with its code (behind what is queued), then end (wire notes §6).
      this.closeInitiator = 'remote'
      this.closeCode = code
      this.closeMessage = message
      this.state = 'closing'
      this.sendClose(code, message, true)
      return
    }
    this.flush()
    this.transport.end(...this.wire.endArgs(code, message))
  }

  private onProtocolError(err: StmpError & { closeCode: number; closeMessage(): string; kind?: string; messageId?: number }): void {
    this.closeError = err
    // An oversized request whose id is known gets a 413 before the close (wire notes §10).
    if (err.code === 'TOO_LARGE' && err.kind === 'request' && err.messageId !== undefined && this.state === 'open') {
      this.sendResponse(err.messageId, 413, Buffer.from(err.message), undefined, performance.now())
    }
    void this.close(err.closeCode, err.closeMessage())
  }

  private onTransportClose(closed: TransportCloseInfo): void {
    if (this.state === 'closed') return
    // A dialect with close codes of its own (CAMP's 4000-4002) gives them in stmpcat's.
    const info = closed.code !== undefined && this.wire.closeCodeIn ? { ...closed, code: this.wire.closeCodeIn(closed.code) } : closed
    this.state = 'closed'
    this.transportError = info.error
    if (info.code !== undefined && info.code !== 1006) {
      this.remoteCode = info.code
      this.remoteReason = info.reason ?? ''
    } else if (this.closeByEnd && info.error === undefined && this.remoteCode === undefined) {
      // A dialect without a Close message: the peer ending its side after ours is its answer.
      this.remoteCode = this.closeCode
      this.remoteReason = ''
    }
    if (info.code !== undefined && this.closeInitiator !== 'local') {
      // WebSocket: the close frame carried the peer's code and reason.
      this.closeInitiator = info.code === 1006 ? 'transport' : 'remote'
      this.closeCode = info.code
      this.closeMessage = info.reason ?? ''
    } else if (this.closeInitiator === 'transport') {
      this.closeCode = 1006
      this.closeMessage = info.error ? info.error.message : 'connection dropped'
    }
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer)
    this.clearCloseTimer()
    const unsent = this.dropUnsent(info.unflushed ?? 0)
    const reason = this.closedError()
    this.handshakeWaiter?.reject(reason)
    // Nothing waits forever: every pending request and ping is told (wire notes §10).
    this.clearDeadline()
    for (const [id, p] of this.pending.entries()) {
      p.callback(new StmpError(reason.code, `request ${p.action} (id ${id}) failed: ${reason.message}`, { status: reason.status, exitCode: reason.exitCode }))
    }
    this.pending.clear()
    for (const w of this.waiting.splice(0)) w.callback(new StmpError(reason.code, `request ${w.action} not sent: ${reason.message}`, { exitCode: reason.exitCode }))
    for (const p of this.pings.values()) {
      clearTimeout(p.timer)
      p.reject(reason)
    }
    this.pings.clear()
    this.wire.reset()
    this.resolveClosed({ code: this.closeCode, message: this.closeMessage, initiator: this.closeInitiator, error: this.closeError, remoteCode: this.remoteCode, remoteReason: this.remoteReason, unsent })
  }

  /** The bytes still queued here when the transport went (plus what it lost itself); forgets them. */
  private dropUnsent(lostByTransport: number): number {
    let unsent = lostByTransport + this.queueBytes
    for (const parts of this.fragments) for (const part of parts) unsent += part.length
    this.fragments.length = 0
    this.queue.length = 0
    this.queueBytes = 0
    this.openPool = null
    this.pendingClose = undefined
    return unsent
  }

  private onDrain(): void {
    this.load?.drained?.()
    this.wire.drained?.()
    this.updateReading()
    if (this.fragments.length > 0) this.scheduleFlush()
    // Bytes moved: a close waiting behind them waits on.
    if (this.closeTimer) this.armCloseTimer()
  }

  // ---- sending ----

  private open(): void {
    this.state = 'open'
    this.handshakeDone = true
    if (this.options.keepalive > 0) {
      this.keepaliveTimer = setInterval(() => {
        if (this.state === 'open' && this.pings.size === 0) this.ping().catch(() => undefined)
      }, this.options.keepalive)
      this.keepaliveTimer.unref()
    }
    this.onOpen?.()
  }

  private applyAgreed(agreed: Record<string, unknown>): void {
    this.agreed = { ...this.agreed, ...agreed }
    if (typeof agreed.serverLatency === 'boolean') this.serverLatencyOn = agreed.serverLatency
    this.wire.configure?.(agreed)
  }

  private allocateId(): number {
    // 1..idSpace, wrapping to 1 and skipping ids still waiting for a response (wire notes §6).
    let id = this.nextMessageId
    do id = (id % this.idSpace) + 1
    while (this.pending.has(id))
    this.nextMessageId = id
    return id
  }

  private sendRequest(action: string, payload: Buffer, timeout: number | undefined, meta: MessageMeta | undefined, callback: ResponseCallback): void {
    const id = this.allocateId()
    const ms = timeout ?? this.options.requestTimeout
    const sentAt = this.now()
    const entry: Pending = { action, sentAt, deadline: ms > 0 ? sentAt + ms : 0, callback }
    if (entry.deadline !== 0 && entry.deadline < this.deadlineAt) this.armDeadline(entry.deadline)
    this.pending.set(id, entry)
    try {
      this.wire.request(id, action, payload, meta)
    } catch (err) {
      // The dialect refused the message (a payload it cannot carry, say): nothing was sent, so
      // nothing waits for an answer; the caller hears why.
      this.pending.delete(id)
      process.nextTick(callback, err)
      return
    }
    this.stats.requestsOut++
  }

  /** The time of the batch being handled, else the clock. */
  private now(): number {
    return this.batching ? this.batchTime : performance.now()
  }

  private armDeadline(at: number): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer)
    this.deadlineAt = at
    this.deadlineTimer = setTimeout(() => this.expire(), Math.max(1, Math.ceil(at - performance.now())))
  }

  private clearDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer)
    this.deadlineTimer = undefined
    this.deadlineAt = Infinity
  }

  /** Fails the requests whose deadline passed, then arms the timer for the next deadline. */
  private expire(): void {
    this.deadlineTimer = undefined
    this.deadlineAt = Infinity
    // Timers run on the event loop's millisecond clock: allow for its rounding.
    const now = performance.now() + 1
    let next = Infinity
    let expired = false
    for (const [id, p] of this.pending.entries()) {
      if (p.deadline === 0) continue
      if (p.deadline <= now) {
        this.pending.delete(id)
        expired = true
        p.callback(new StmpError('TIMEOUT', `request ${p.action} (id ${id}) got no response within ${Math.round(p.deadline - p.sentAt)} ms`))
      } else if (p.deadline < next) {
        next = p.deadline
      }
    }
    if (next !== Infinity) this.armDeadline(next)
    if (expired) this.drainWaiting()
  }

  private drainWaiting(): void {
    while (this.waiting.length > 0 && this.pending.size < this.options.maxInFlight && this.state === 'open') {
      const w = this.waiting.shift() as Waiting
      this.sendRequest(w.action, w.payload, w.timeout, w.meta, w.callback)
    }
  }

  private sendResponse(id: number, status: number, payload: Buffer, meta: MessageMeta | undefined, receivedAt: number): void {
    if (this.state === 'closed' || this.closeSent) return
    this.stats.responsesOut++
    const out = this.serverLatencyOn ? { ...meta, latency: Math.round(performance.now() - receivedAt) } : meta
    this.wire.response(id, status, payload, out)
  }

  /**
   * Sends the Close behind every frame queued before it: while fragments of a large message are
   * still going out (through the transport's backpressure), the Close waits for the last one.
   * `answer`: it answers the peer's Close, and the transport ends right after it.
   */
  private sendClose(code: number, message: string, answer: boolean): void {
    if (this.closeSent) return
    if (this.fragments.length > 0) {
      this.pendingClose = { code, message, answer }
      this.armCloseTimer()
      this.scheduleFlush()
      return
    }
    this.pendingClose = undefined
    this.closeSent = true
    const action = this.wire.close(code, message, answer)
    this.closeByEnd = action === 'end'
    this.flush()
    // 'transport': the WebSocket close frame is the Close (ws sends it behind the messages
    // queued); 'end': the dialect has no Close, the stream just ends; 'frame': the Close is out.
    if (action === 'transport') this.transport.end(...this.wire.endArgs(code, message))
    else if (action === 'end' || answer) this.transport.end(...this.wire.endArgs(code, message))
    // An answered Close ends here (the transport bounds its own end); ours waits for the peer's.
    if (answer) this.clearCloseTimer()
    else this.armCloseTimer()
  }

  /**
   * Cuts the transport when the close stalls: flushTimeout while frames are still queued and
   * none moves (re-armed at every drain), closeTimeout once everything is out and the peer's
   * Close does not come.
   */
  private armCloseTimer(): void {
    if (this.closeTimer) clearTimeout(this.closeTimer)
    const flushing = this.fragments.length > 0 || this.transport.bufferedAmount > 0
    this.closeTimer = setTimeout(() => this.transport.destroy(), flushing ? this.options.flushTimeout : this.options.closeTimeout)
    this.closeTimer.unref()
  }

  private clearCloseTimer(): void {
    if (this.closeTimer) clearTimeout(this.closeTimer)
    this.closeTimer = undefined
  }

  /** WireOutput#write: stream bytes into the queue, or one WebSocket message (corked until the flush). */
  private writeOut(bytes: Buffer, text: boolean): void {
    if (this.stream) return this.writeRaw(bytes)
    this.stats.bytesOut += bytes.length
    if (!this.corked && this.transport.cork) {
      this.corked = true
      this.transport.cork()
      this.scheduleFlush()
    }
    this.transport.write(bytes, text)
  }

  /**
   * WireOutput#reserve: room for a small frame in the shared pool, after this session's last one
   * (the wire writes it at once). A flush due happens before, never over a region not yet written.
   */
  private reserve(size: number): number {
    if (this.queueBytes >= INLINE_FLUSH_BYTES) this.flush()
    if (poolUsed + size > POOL_SIZE) {
      pool = Buffer.allocUnsafeSlow(POOL_SIZE)
      poolUsed = 0
    }
    if (this.openPool !== pool || this.openEnd !== poolUsed) {
      this.closeRegion()
      this.openPool = pool
      this.openStart = poolUsed
    }
    const pos = poolUsed
    poolUsed += size
    this.openEnd = poolUsed
    this.queueBytes += size
    this.scheduleFlush()
    return pos
  }

  /** Queues this session's open pool region (before anything else is queued, to keep the order). */
  private closeRegion(): void {
    if (this.openPool === null) return
    this.queue.push(this.openPool.subarray(this.openStart, this.openEnd))
    this.openPool = null
  }

  /** Writes coalesce within a tick: one flush per tick, inline past INLINE_FLUSH_BYTES. */
  private writeRaw(bytes: Buffer): void {
    this.closeRegion()
    this.queue.push(bytes)
    this.queueBytes += bytes.length
    if (this.queueBytes >= INLINE_FLUSH_BYTES) this.flush()
    else this.scheduleFlush()
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    if (!this.batching) process.nextTick(this.flushTick)
  }

  private flush(): void {
    this.flushScheduled = false
    this.closeRegion()
    if (this.corked) {
      this.corked = false
      this.transport.uncork?.()
    }
    if (this.queue.length > 0) {
      const queue = this.queue
      this.stats.bytesOut += this.queueBytes
      if (queue.length === 1) this.transport.write(queue[0])
      else if (this.queueBytes < INLINE_FLUSH_BYTES) this.transport.write(Buffer.concat(queue, this.queueBytes))
      else this.transport.writev(queue)
      // Transports do not keep the array: reuse it.
      queue.length = 0
      this.queueBytes = 0
    }
    // One fragment of each large message per flush, so other frames flow between them; stop at
    // the high-water mark and go on at 'drain'.
    if (this.fragments.length > 0 && this.transport.bufferedAmount < this.options.highWaterMark) {
      for (let i = 0; i < this.fragments.length; i++) {
        const part = this.fragments[i].shift() as Buffer
        this.stats.bytesOut += part.length
        this.transport.write(part)
        if (this.fragments[i].length === 0) this.fragments.splice(i--, 1)
      }
      if (this.fragments.length > 0 && this.transport.bufferedAmount < this.options.highWaterMark) {
        setImmediate(() => this.scheduleFlush())
      }
      if (this.closeTimer) this.armCloseTimer()
    }
    this.updateReading()
    // The last fragment is out: the Close that waited for it follows.
    if (this.pendingClose && this.fragments.length === 0) {
      const { code, message, answer } = this.pendingClose
      this.sendClose(code, message, answer)
    }
  }

  /** Stops reading from the peer while too much is in hand; reads again once it drains. */
  private updateReading(): void {
    const over = this.incoming >= this.options.maxIncoming || this.transport.bufferedAmount > this.options.highWaterMark
    if (over && !this.paused) {
      this.paused = true
      this.transport.pause()
    } else if (!over && this.paused) {
      this.paused = false
      this.transport.resume()
    }
  }

  /**
   * Why the session is not open (or no longer), as what a request fails with: the protocol error
   * that closed it (its own code, exit 5), the peer's Close for what it is (its code and reason;
   * TOO_LARGE when it says so), our own close, or the transport ending without a Close.
   */
  closedError(): StmpError {
    const peer = this.options.role === 'client' ? 'the server' : 'the client'
    if (this.closeError instanceof WireError) {
      // Our decoder's finding: say whose bytes they were and what this side did about them.
      const e = this.closeError
      const seen = this.handshakeDone ? '' : `; ${this.firstBytesText()}`
      return new StmpError(e.code, `${peer} sent bytes that are not ${this.dialect.title}: ${e.closeMessage()} (this side closed with ${e.closeCode})${seen}`, { offset: e.offset, closeCode: e.closeCode })
    }
    if (this.closeError) return this.closeError
    if (this.state === 'handshake') return new StmpError('CONNECTION_CLOSED', 'the handshake has not finished')
    if (this.state === 'open') return new StmpError('CONNECTION_CLOSED', 'the connection is open')
    const during = this.handshakeDone ? '' : ' before the handshake finished'
    if (this.closeInitiator === 'remote') return peerCloseError(peer, this.closeCode, this.closeMessage, during)
    if (this.closeInitiator === 'local') {
      return new StmpError('CONNECTION_CLOSED', `the connection ${this.state === 'closing' ? 'is closing' : 'was closed'} (this side sent Close ${this.closeCode}${this.closeMessage ? ` ${this.closeMessage}` : ''})${during}`)
    }
    const error = this.transportError as NodeJS.ErrnoException | undefined
    const why = error ? `: ${error.code === 'ECONNRESET' ? 'connection reset by the peer' : error.message}` : ''
    const code = error?.code === 'ECONNRESET' ? 'CONNECTION_RESET' : 'CONNECTION_CLOSED'
    // A stream has no close codes of its own: 1006 is WebSocket's word for "no close frame".
    if (this.stream) {
      const seen = this.handshakeDone ? '' : `; ${this.firstBytesText()}`
      return new StmpError(code, `the connection ended without a Close from ${peer}${during}${why}${seen}`)
    }
    return new StmpError(code, `the connection dropped without a close frame (${this.closeCode}${this.closeMessage ? ` ${this.closeMessage}` : ''})${during}`)
  }

  /** The first bytes received before the negotiation finished (at most PREVIEW_BYTES), or none. */
  get firstReceived(): Buffer {
    return this.firstBytes
  }

  /** Whether the negotiation finished once. */
  get opened(): boolean {
    return this.handshakeDone
  }

  private keepFirstBytes(data: Buffer): void {
    this.firstBytesTotal += data.length
    if (this.firstBytes.length < PREVIEW_BYTES) {
      this.firstBytes = Buffer.concat([this.firstBytes, data.subarray(0, PREVIEW_BYTES - this.firstBytes.length)])
    }
  }

  /** What the peer sent before the handshake finished: a printable preview and hex, bounded, and what it looks like. */
  private firstBytesText(): string {
    if (this.firstBytesTotal === 0) return `nothing was received${this.options.role === 'client' ? ' (a TLS listener ends a plain connection so: is it one? try tls://)' : ''}`
    const bytes = this.firstBytes
    const count = this.firstBytesTotal > bytes.length ? `the first ${bytes.length} of ${this.firstBytesTotal} bytes` : `${bytes.length} byte${bytes.length === 1 ? '' : 's'}`
    return `received ${count}: ${bytesPreview(bytes)}${this.options.role === 'client' ? looksLike(bytes) : ''}`
  }

  private notOpenError(): StmpError {
    return this.closedError()
  }
}

/** A request from the peer, as handed to onRequest: one object per request, no closure. */
class Incoming implements IncomingRequest {
  private answered = false

  readonly format: Format

  constructor(
    private readonly session: Session,
    readonly id: number,
    readonly action: string,
    readonly payload: Buffer,
    readonly meta: MessageMeta | undefined,
    readonly receivedAt: number,
  ) {
    this.format = meta?.format ?? 'binary'
  }

  respond(status: number, payload: Buffer = EMPTY, headers?: Record<string, string>): void {
    if (this.answered) return
    this.answered = true
    this.session.answer(this, status, payload, headers)
  }
}

/**
 * The error for a close that left queued frames unsent (CloseInfo.unsent > 0): the connection
 * dropped or was cut before they were written, so the peer cannot have them (CONNECTION_CLOSED, exit 3).
 */
export function unsentError(unsent: number, consequence: string): StmpError {
  return new StmpError('CONNECTION_CLOSED', `the connection ended with ${unsent} bytes of frames not sent: ${consequence}`)
}

/**
 * A Close from the peer as an error, for what it is: its code and reason, under the wire code its
 * reason starts with (`TOO_LARGE at byte 17: ...`, exit 5), TOO_LARGE for 1009, else
 * CONNECTION_CLOSED (exit 3). Never a status: a peer's Close is not an answer to a request.
 */
/** Protocol error codes a peer's Close reason may start with (docs/exit-codes.md); a dialect's own codes come as `CODE at byte N`. */
const WIRE_CODES = new Set(['BAD_LENGTH', 'TRUNCATED', 'SHORT_FRAME', 'RESERVED_BIT', 'BAD_KIND', 'NO_ACTION_END', 'EMPTY_ACTION', 'BAD_NUMBER', 'BAD_FRAGMENT', 'TOO_LARGE', 'BAD_UTF8'])

export function peerCloseError(peer: string, code: number, reason: string, suffix = ''): StmpError {
  const named = /^[A-Z][A-Z0-9_]+\b/.exec(reason)?.[0]
  const coded = named !== undefined && (WIRE_CODES.has(named) || reason.startsWith(`${named} at byte `))
  const wire = code !== 1000 && code !== 1001 && coded ? named
    : code === 1009 ? 'TOO_LARGE' : 'CONNECTION_CLOSED'
  return new StmpError(wire, `${peer} closed the connection (${code}${reason ? ` ${reason}` : ''})${suffix}`, { closeCode: code })
}

/** A peer's Close code that reports a failure (not a normal close or going away). */
export function isErrorClose(code: number | undefined): code is number {
  return code !== undefined && code !== 1000 && code !== 1001
}

/** Bytes as a quoted printable preview (\r \n \t escaped, other bytes as '.') and their hex. */
export function bytesPreview(bytes: Buffer): string {
  let text = ''
  for (const b of bytes) {
    if (b === 0x0d) text += '\\r'
    else if (b === 0x0a) text += '\\n'
    else if (b === 0x09) text += '\\t'
    else if (b === 0x22 || b === 0x5c) text += `\\${String.fromCharCode(b)}`
    else text += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.'
  }
  const hex = bytes.toString('hex').replace(/(..)(?!$)/g, '$1 ')
  return `"${text}" (hex ${hex})`
}

/** What a server's first bytes look like, when they are not STMP: HTTP, or a TLS record. */
function looksLike(bytes: Buffer): string {
  if (bytes.subarray(0, 5).toString('latin1') === 'HTTP/') return ': that is an HTTP answer: is it a WebSocket listener? try ws:// (wss:// over TLS)'
  if ((bytes[0] === 0x15 || bytes[0] === 0x16) && bytes[1] === 0x03) return ': that is TLS: is it a tls:// listener? try tls://'
  return ''
}
