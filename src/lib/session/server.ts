import { DEFAULT_DIALECT, loadDialect } from '../dialects/registry.js'
import type { Dialect, DialectOptions, NegotiationDecision, NegotiationPolicy } from '../dialects/types.js'
import { StmpError } from '../errors.js'
import { type Address, type Listener, type ServerTlsOptions, type Transport, type UpgradeInfo, listen } from '../transport/index.js'
import type { SessionOptions } from './options.js'
import { type CloseInfo, type IncomingPush, type IncomingRequest, Session } from './session.js'

/** What a request handler gives back; thrown errors become 500 with their message. */
export interface HandlerResult {
  status: number
  payload?: Buffer
  /** The answer's own headers, where the dialect's responses carry them (stmp-go packet headers); other dialects have none. */
  headers?: Record<string, string>
}

/**
 * What answers a server's requests and pushes: echo, a routes file (server/routes.ts), a handler
 * module (server/handler-module.ts), or a test's own. Requests get a status and payload bytes;
 * pushes get no answer. The one handler abstraction of the server side.
 */
export interface Handler {
  request(request: IncomingRequest, session: Session, server: StmpServer): HandlerResult | Promise<HandlerResult>
  push?(push: IncomingPush, session: Session, server: StmpServer): void | Promise<void>
}

/** The default: every request gets 200 with its own payload; pushes are not answered. */
export const echoHandler: Handler = { request: (request) => ({ status: 200, payload: request.payload }) }

export interface ServerOptions extends NegotiationPolicy {
  /** The dialect of listeners whose address names none (`NAME+scheme:`); default stmp-v3. */
  dialect?: string
  /** The values of the dialect's own flags, for every session. */
  dialectOptions?: DialectOptions
  /** Echo when absent; a bare function is `{ request: fn }`. */
  handler?: Handler | Handler['request']
  /** A dialect event from a client beyond the core model; rooms (join, leave, broadcast) are kept here first. */
  onEvent?(name: string, data: Record<string, unknown>, session: Session, server: StmpServer): void
  onConnection?(session: Session): void
  onDisconnect?(session: Session, info: CloseInfo): void
  /** Per-session options: limits, keepalive, pingTimeout, maxIncoming, ... */
  session?: Partial<SessionOptions>
  /** Connections open at once; past it new ones are refused (503 / Close 1008). */
  maxConnections?: number
  tls?: ServerTlsOptions
  perMessageDeflate?: boolean
  /**
   * A stream client must finish its handshake within this many ms; else it is answered 408 and
   * the connection ends (a client that sends half a handshake is not held forever).
   */
  handshakeTimeout?: number
}

export const DEFAULT_MAX_CONNECTIONS = 100_000
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000

/**
 * The STMP server: any number of listeners (tcp, tls, unix, ws, wss) feeding one set of
 * sessions, a request handler (echo by default), rooms and broadcast, graceful shutdown.
 */
export class StmpServer {
  readonly sessions = new Map<number, Session>()
  readonly rooms = new Map<string, Set<Session>>()
  /** Connections accepted so far (Dialect.rooms.own names each one's own room by it). */
  private accepted = 0
  readonly listeners: Listener[] = []
  private shuttingDown = false
  private handling = 0
  private idle?: () => void

  private readonly handler: Handler

  constructor(readonly options: ServerOptions = {}) {
    const h = options.handler
    this.handler = h === undefined ? echoHandler : typeof h === 'function' ? { request: h } : h
  }

  /** Listens on `address` in its dialect (`NAME+scheme:`), else the server's. */
  async listen(address: Address): Promise<Listener> {
    const dialect = await loadDialect(address.dialect ?? this.options.dialect ?? DEFAULT_DIALECT)
    if (!(dialect.schemes as readonly string[]).includes(address.scheme)) {
      throw new StmpError('BAD_URL', `${dialect.title} does not run over ${address.scheme}:// (it runs over ${dialect.schemes.map((s) => `${s}://`).join(', ')})`)
    }
    dialect.checkOptions?.({ token: this.options.token, ...this.options.dialectOptions })
    const listener = await listen(address, {
      tls: this.options.tls,
      maxMessageSize: this.options.session?.limits?.maxMessageSize,
      perMessageDeflate: this.options.perMessageDeflate,
      upgrade: (info) => {
        const decision = this.decide(dialect, info.url, info.headers, 0, address.scheme)
        // Refused in-band once the session exists (accept below).
        return dialect.refusesInBand === true ? { status: 200, message: 'OK' } : decision
      },
      onConnection: (transport, upgrade) => this.accept(dialect, transport, upgrade, address.scheme),
    })
    this.listeners.push(listener)
    return listener
  }

  /** `counted`: 1 when the asking session is already in `sessions` (streams), 0 on an upgrade. */
  private decide(dialect: Dialect, url: string, headers: Record<string, string>, counted: number, scheme: string): NegotiationDecision {
    const max = this.options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    if (this.sessions.size - counted >= max) return { status: 503, message: `too many connections (max ${max})` }
    const policy = { token: this.options.token, contentTypes: this.options.contentTypes, shuttingDown: this.shuttingDown, scheme }
    return dialect.decideUpgrade?.({ url, headers }, policy) ?? (this.shuttingDown ? { status: 503, message: 'shutting down' } : { status: 200, message: 'OK' })
  }

  private accept(dialect: Dialect, transport: Transport, upgrade: UpgradeInfo | undefined, scheme: string): void {
    const session = new Session(transport, { dialect, options: { token: this.options.token, ...this.options.dialectOptions } }, { ...this.options.session, role: 'server' })
    this.sessions.set(session.id, session)
    session.onRequest = (request) => this.handle(request, session)
    if (this.handler.push) session.onPush = (push) => this.push(push, session)
    session.onEvent = (name, data) => this.onEvent(name, data, session)
    this.accepted++
    if (dialect.rooms?.own) this.join(session, dialect.rooms.own(this.accepted))
    if (upgrade || session.state === 'open') {
      // The upgrade was decided already (this.decide); what it agreed is read again here. A
      // dialect with no negotiation on a stream is open at once.
      const request = upgrade ?? { url: '/', headers: {} }
      const refusal = upgrade && dialect.refusesInBand === true ? this.decide(dialect, request.url, request.headers, 1, scheme) : undefined
      if (refusal !== undefined && refusal.status !== 200) {
        session.refuseHandshake(refusal.status, refusal.message)
      } else {
        const d = dialect.decideUpgrade?.(request, { scheme }) ?? { status: 200, message: 'OK' }
        session.accept(request.url, request.headers, d)
        if (session.opened) this.options.onConnection?.(session)
        else this.whenOpen(session)
      }
    } else {
      session.onHandshake = (hs) => {
        const decision = this.decide(dialect, hs.url, hs.headers, 1, scheme)
        if (decision.agreed?.httpOnStream === true) session.data.set(HTTP_ON_STREAM, true)
        return decision
      }
      this.whenOpen(session)
    }
    void session.closed.then((info) => {
      this.sessions.delete(session.id)
      for (const room of this.roomsOf(session)) this.leave(session, room)
      this.options.onDisconnect?.(session, info)
    })
  }

  /** A session still negotiating: onConnection once it opens; 408 if it does not in time. */
  private whenOpen(session: Session): void {
    const timeout = this.options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT
    const timer = setTimeout(() => {
      if (session.state === 'handshake') session.refuseHandshake(408, `no handshake within ${timeout} ms`)
      if (session.state === 'handshake') session.transport.destroy()
    }, timeout)
    timer.unref()
    void session.closed.then(() => clearTimeout(timer))
    session.onOpen = () => {
      clearTimeout(timer)
      session.onOpen = undefined
      this.options.onConnection?.(session)
    }
  }

  /** Rooms a dialect keeps on the wire (join, leave, broadcast to the other members), then the caller's hook. */
  private onEvent(name: string, data: Record<string, unknown>, session: Session): void {
    const room = typeof data.room === 'string' ? data.room : undefined
    if (room !== undefined && name === 'join') this.join(session, room)
    else if (room !== undefined && name === 'leave') this.leave(session, room)
    else if (room !== undefined && name === 'broadcast') {
      if (!this.rooms.has(room) && session.dialect.rooms?.missing) {
        try {
          session.command('room-missing', { room })
        } catch {
          // The connection is going: nobody to tell.
        }
      } else {
        const payload = Buffer.isBuffer(data.payload) ? data.payload : Buffer.alloc(0)
        this.broadcast(`room:${room}`, typeof data.action === 'string' ? data.action : room, payload, session)
      }
    }
    this.options.onEvent?.(name, data, session, this)
  }

  private handle(request: IncomingRequest, session: Session): void {
    this.handling++
    try {
      const result = this.handler.request(request, session, this)
      if (result instanceof Promise) result.then((r) => this.done(request, r), (err: unknown) => this.done(request, failure(err)))
      else this.done(request, result)
    } catch (err) {
      this.done(request, failure(err))
    }
  }

  /** A push to the handler; a failure in it is the handler's to report (serve logs it), never a crash. */
  private push(push: IncomingPush, session: Session): void {
    try {
      const r = this.handler.push?.(push, session, this)
      if (r instanceof Promise) r.catch(() => undefined)
    } catch {
      // The handler's own error: serve's handlers report their failures themselves.
    }
  }

  /** A method, not a closure per request: the echo hot path allocates as little as it can. */
  private done(request: IncomingRequest, result: HandlerResult): void {
    request.respond(result.status, result.payload, result.headers)
    if (--this.handling === 0) this.idle?.()
  }

  join(session: Session, room: string): void {
    let members = this.rooms.get(room)
    if (!members) this.rooms.set(room, (members = new Set()))
    members.add(session)
    const mine = (session.data.get('rooms') as Set<string> | undefined) ?? new Set<string>()
    mine.add(room)
    session.data.set('rooms', mine)
  }

  leave(session: Session, room: string): void {
    const members = this.rooms.get(room)
    members?.delete(session)
    if (members?.size === 0) this.rooms.delete(room)
    ;(session.data.get('rooms') as Set<string> | undefined)?.delete(room)
  }

  roomsOf(session: Session): string[] {
    return [...((session.data.get('rooms') as Set<string> | undefined) ?? [])]
  }

  /**
   * Pushes to `all` open sessions, a `room:NAME`, or one session id; returns how many got it.
   * `except` leaves one session out (the sender of a broadcast).
   */
  broadcast(target: string | number, action: string, payload: Buffer, except?: Session): number {
    let sessions: Iterable<Session>
    if (target === 'all') sessions = this.sessions.values()
    else if (typeof target === 'string' && target.startsWith('room:')) sessions = this.rooms.get(target.slice(5)) ?? []
    else {
      const one = this.sessions.get(Number(target))
      if (!one) throw new StmpError('BAD_INPUT', `no connection ${target} (targets: all, room:NAME, or a connection id)`)
      sessions = [one]
    }
    let n = 0
    for (const s of sessions) {
      if (s === except || s.state !== 'open') continue
      s.push(action, payload)
      n++
    }
    return n
  }

  /**
   * Graceful stop: stop accepting, let handlers in flight finish (bounded by `timeout`), send
   * Close 1001 to every client, wait for them to go (bounded), close the listeners.
   */
  async close(timeout = 5000): Promise<void> {
    this.shuttingDown = true
    const listenersClosed = Promise.all(this.listeners.map((l) => l.close()))
    if (this.handling > 0) {
      await new Promise<void>((resolve) => {
        this.idle = resolve
        setTimeout(resolve, timeout).unref()
      })
    }
    const closing = [...this.sessions.values()].map((s) => s.close(1001, 'server shutting down'))
    await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, timeout).unref())])
    for (const s of this.sessions.values()) s.transport.destroy()
    await Promise.race([listenersClosed, new Promise((r) => setTimeout(r, 1000).unref())])
  }
}

/** `session.data` key set when a stream connection opened with an HTTP request line. */
export const HTTP_ON_STREAM = 'server.httpOnStream'

function failure(err: unknown): HandlerResult {
  const message = err instanceof Error ? err.message : String(err)
  return { status: 500, payload: Buffer.from(message, 'utf8') }
}
