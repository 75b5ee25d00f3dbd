import { StmpError } from '../errors.js'
import { type Address, type Listener, type ServerTlsOptions, type Transport, type UpgradeInfo, listen } from '../transport/index.js'
import { type HandshakeDecision, type HandshakePolicy, decideHandshake } from './handshake.js'
import type { SessionOptions } from './options.js'
import { type CloseInfo, type IncomingPush, type IncomingRequest, Session } from './session.js'

/** What a request handler gives back; thrown errors become 500 with their message. */
export interface HandlerResult {
  status: number
  payload?: Buffer
}

export type RequestHandler = (request: IncomingRequest, session: Session, server: StmpServer) => HandlerResult | Promise<HandlerResult>

/** The default handler: every request gets 200 with its own payload. */
export const echoHandler: RequestHandler = (request) => ({ status: 200, payload: request.payload })

export interface ServerOptions extends HandshakePolicy {
  handler?: RequestHandler
  onPush?(push: IncomingPush, session: Session, server: StmpServer): void
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
  readonly listeners: Listener[] = []
  private shuttingDown = false
  private handling = 0
  private idle?: () => void

  constructor(readonly options: ServerOptions = {}) {}

  async listen(address: Address): Promise<Listener> {
    const listener = await listen(address, {
      tls: this.options.tls,
      maxMessageSize: this.options.session?.limits?.maxMessageSize,
      perMessageDeflate: this.options.perMessageDeflate,
      upgrade: (info) => this.decide(info.url, info.headers, 0),
      onConnection: (transport, upgrade) => this.accept(transport, upgrade, address.scheme),
    })
    this.listeners.push(listener)
    return listener
  }

  /** `counted`: 1 when the asking session is already in `sessions` (streams), 0 on an upgrade. */
  private decide(url: string, headers: Record<string, string>, counted: number): HandshakeDecision {
    const bad = checkHandshakeUrl(url)
    if (bad !== undefined) return { status: 400, message: bad, contentType: '', serverLatency: false }
    const max = this.options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    if (this.sessions.size - counted >= max) return { status: 503, message: `too many connections (max ${max})`, contentType: '', serverLatency: false }
    return decideHandshake(url, headers, { ...this.options, shuttingDown: this.shuttingDown })
  }

  private accept(transport: Transport, upgrade: UpgradeInfo | undefined, scheme: string): void {
    const session = new Session(transport, { ...this.options.session, role: 'server' })
    this.sessions.set(session.id, session)
    session.onRequest = (request) => this.handle(request, session)
    session.onPush = (push) => this.options.onPush?.(push, session, this)
    if (upgrade) {
      const d = decideHandshake(upgrade.url, upgrade.headers, {})
      session.accept(upgrade.url, upgrade.headers, { contentType: d.contentType, serverLatency: d.serverLatency })
      this.options.onConnection?.(session)
    } else {
      session.onHandshake = (hs) => {
        if (looksLikeHttp(hs.url)) {
          // A WebSocket (or plain HTTP) client on a stream listener: its request line, read as
          // an STMP handshake, would give a puzzling answer. Say what happened instead.
          session.data.set(HTTP_ON_STREAM, true)
          return { status: 400, message: httpOnStreamMessage(scheme), contentType: '', serverLatency: false }
        }
        return this.decide(hs.url, hs.headers, 1)
      }
      const timeout = this.options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT
      const timer = setTimeout(() => session.refuseHandshake(408, `no handshake within ${timeout} ms`), timeout)
      timer.unref()
      void session.closed.then(() => clearTimeout(timer))
      session.onOpen = () => {
        clearTimeout(timer)
        session.onOpen = undefined
        this.options.onConnection?.(session)
      }
    }
    void session.closed.then((info) => {
      this.sessions.delete(session.id)
      for (const room of this.roomsOf(session)) this.leave(session, room)
      this.options.onDisconnect?.(session, info)
    })
  }

  private handle(request: IncomingRequest, session: Session): void {
    const handler = this.options.handler ?? echoHandler
    this.handling++
    try {
      const result = handler(request, session, this)
      if (result instanceof Promise) result.then((r) => this.done(request, r), (err: unknown) => this.done(request, failure(err)))
      else this.done(request, result)
    } catch (err) {
      this.done(request, failure(err))
    }
  }

  /** A method, not a closure per request: the echo hot path allocates as little as it can. */
  private done(request: IncomingRequest, result: HandlerResult): void {
    request.respond(result.status, result.payload)
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

/** Longest handshake URL (path and query) a server accepts; longer is refused with 400. */
export const MAX_HANDSHAKE_URL = 8192

/** `session.data` key set when a stream connection opened with an HTTP request line. */
export const HTTP_ON_STREAM = 'server.httpOnStream'

/**
 * The handshake URL is a path and a query (docs/protocol.md §10): it starts with "/",
 * is at most MAX_HANDSHAKE_URL bytes and holds no control characters. Returns why not, or
 * undefined when it is fine.
 */
export function checkHandshakeUrl(url: string): string | undefined {
  const size = Buffer.byteLength(url)
  if (size > MAX_HANDSHAKE_URL) return `handshake URL of ${size} bytes is over the ${MAX_HANDSHAKE_URL}-byte limit`
  if (!url.startsWith('/')) return `handshake URL must be a path starting with "/", not ${JSON.stringify(preview(url))}`
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(url)) return `handshake URL holds a control character: ${JSON.stringify(preview(url))}`
  return undefined
}

/**
 * An HTTP request line read as a stream handshake: LENGTH took the method's first byte ("G" of
 * "GET"), so the URL line is the rest of it, e.g. "ET /stmp HTTP/1.1\r".
 */
export function looksLikeHttp(url: string): boolean {
  return /^[A-Z]{0,15} \S+ HTTP\/\d(\.\d)?\r?$/.test(url)
}

/** What an HTTP request on a stream listener is told (and the serve log says). */
export function httpOnStreamMessage(scheme: string): string {
  const ws = scheme === 'tls' ? 'wss://' : 'ws://'
  return `an HTTP request on a ${scheme} listener: use ${ws} with a ${ws} listener (this one speaks STMP over ${scheme})`
}

function preview(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text
}

function failure(err: unknown): HandlerResult {
  const message = err instanceof Error ? err.message : String(err)
  return { status: 500, payload: Buffer.from(message, 'utf8') }
}
