import { StmpError, WireError } from '../../errors.js'
import { nextIncomingId } from '../../codec/ids.js'
import type { CloseAction, MessageMeta, TraceFrame, Wire, WireContext } from '../types.js'
import {
  type RawMessage, TYPE, codeOf, decodeRequestBody, decodeResponseBody, encodeRequestBody, encodeResponseBody,
  joinMessage, looksLikeRequestBody, preview, requestPayload, splitMessage, statusOf, strictSplit,
} from './codec.js'

/** Callback codes this side picks run 1..MAX_CCODE ("0" means "no answer", wire notes §2). */
const MAX_CCODE = 0x7fffffff
/** Ids of pings from the peer: above the session's own ping ids (1..0xffff), never mistaken for them. */
const PEER_PING_BASE = 0x10000
const EMPTY = Buffer.alloc(0)
const META: MessageMeta = Object.freeze({ format: 'text' as const })

type ErrorArg = Parameters<WireContext['sink']['error']>[0]

/**
 * Stocking on one WebSocket connection (wire notes §2). Only the server speaks first: `0`
 * (Connect) right after the upgrade, which is what opens a client. The rest:
 *
 * - Callback codes are this Wire's: a request this side sends gets the next free decimal ccode,
 *   mapped to the session's id; a request from the peer gets a session id mapped back to the
 *   peer's ccode (any string but "0"), which the answer echoes.
 * - Requests are `4,<ccode>,{"e":action,"p":payload}`; pushes to the server the same with ccode
 *   "0" (the server runs the route and answers nothing). A server has no push of its own: what it
 *   sends unasked is a broadcast, `5,<action>,<payload>`, and a client reports one as a push
 *   whose action is the room.
 * - Answers are `{"c":-1,"p":result}` (200), `{"c":N,"p":"message"}` (statusOf), or nothing
 *   after the ccode (200, empty payload).
 * - Ping `3,,` is answered `3`. Close is the WebSocket close frame (a real server answers it;
 *   `2,,` makes it drop the TCP connection instead).
 * - The server side is as strict as the real one: fewer than two commas, an empty type, or a
 *   body whose `p` is not an object or null close the connection. The client side refuses to
 *   send such a payload (BAD_PAYLOAD) rather than have the server hang up.
 */
export class StockingWire implements Wire {
  /**
   * Open at once on both sides. The server's Connect `0` is what the real client waits for, but
   * it comes unasked right after the 101: it can arrive before the session listens (the
   * WebSocket dial resolves a tick later) and be lost. So a client takes `0` when it comes and
   * does not wait for it (docs/dialects/stocking.md, "Connect").
   */
  readonly initial = 'open' as const
  private readonly server: boolean
  private nextCcode = 0
  /** Requests this side sent: ccode -> session id. */
  private readonly outgoing = new Map<string, number>()
  /** Requests from the peer: session id -> the peer's ccode. */
  private readonly incoming = new Map<number, string>()
  private nextIncomingId = 0
  /** This side's pings waiting for their answer, oldest first (the answer carries no id). */
  private readonly pings: number[] = []
  private nextPeerPing = 0

  constructor(private readonly ctx: WireContext) {
    this.server = ctx.role === 'server'
  }

  start(): void {}

  /** The server speaks first: Connect (hub.go onSignin). A client's session calls this too: it says nothing. */
  accepted(): void {
    if (!this.server) return
    this.trace('out', { kind: 'connect' })
    this.write(TYPE.connect)
  }

  refuse(): void {}

  receive(data: Buffer): void {
    const text = data.toString('utf8')
    try {
      if (this.server) this.onServerMessage(text)
      else this.onClientMessage(text)
    } catch (err) {
      if (err instanceof WireError) this.ctx.sink.error(err as ErrorArg)
      else throw err
    }
  }

  // ---- the server side: as the real hub reads ----

  private onServerMessage(text: string): void {
    const sink = this.ctx.sink
    const m = strictSplit(text)
    switch (m.type) {
      case TYPE.ping:
        this.trace('in', { kind: 'ping', id: 0 })
        // Our own ping's answer when one is waiting (a stmpcat client answers `3,,`), else the peer's ping.
        if (this.pings.length > 0) return sink.pong(this.pings.shift() as number)
        return sink.ping(this.peerPingId())
      case TYPE.close:
        this.trace('in', { kind: 'close', status: 1000, message: '' })
        return sink.close(1000, 'the client sent Close (2,,)')
      case TYPE.message:
        return this.onMessage(m, true)
      case TYPE.broadcast:
        this.trace('in', { kind: 'broadcast', room: m.ccode, payload: Buffer.from(m.content, 'utf8') })
        return sink.event('broadcast', { room: m.ccode, payload: Buffer.from(m.content, 'utf8'), action: m.ccode })
      case TYPE.join:
        if (m.ccode !== '1' && m.ccode !== '0') return this.trace('in', { kind: 'unknown', type: m.type, ccode: m.ccode, content: m.content })
        this.trace('in', { kind: m.ccode === '1' ? 'join' : 'leave', room: m.content })
        return sink.event(m.ccode === '1' ? 'join' : 'leave', { room: m.content })
      default:
        // Connect, Error and unknown types from a client: the real hub ignores them.
        this.trace('in', { kind: m.type === TYPE.connect ? 'connect' : 'unknown', type: m.type, ccode: m.ccode, content: m.content })
    }
  }

  // ---- the client side ----

  private onClientMessage(text: string): void {
    const sink = this.ctx.sink
    const m = splitMessage(text)
    if (m.type === TYPE.connect) {
      this.trace('in', { kind: 'connect' })
      return
    }
    switch (m.type) {
      case TYPE.ping:
        if (m.parts === 1) {
          // `3`: the answer to our oldest ping.
          this.trace('in', { kind: 'pong', id: this.pings[0] ?? 0 })
          if (this.pings.length > 0) sink.pong(this.pings.shift() as number)
          return
        }
        this.trace('in', { kind: 'ping', id: 0 })
        return sink.ping(this.peerPingId())
      case TYPE.close:
        this.trace('in', { kind: 'close', status: 1000, message: '' })
        return sink.close(1000, 'the server sent Close (2)')
      default:
        break
    }
    if (m.parts !== 3) throw new WireError('BAD_MESSAGE', `${JSON.stringify(preview(text))}: a Stocking message of type ${m.type || '""'} is type,ccode,content`, 0)
    switch (m.type) {
      case TYPE.message:
        return this.onMessage(m, false)
      case TYPE.broadcast: {
        const payload = Buffer.from(m.content, 'utf8')
        this.trace('in', { kind: 'push', id: 0, action: m.ccode, payload, follow: false, fin: false, type: 'broadcast', room: m.ccode })
        return sink.push(m.ccode, payload, { format: 'text', type: 'broadcast', room: m.ccode })
      }
      case TYPE.error: {
        this.trace('in', { kind: 'error', ccode: m.ccode, message: m.content })
        const id = this.outgoing.get(m.ccode)
        if (id !== undefined) {
          this.outgoing.delete(m.ccode)
          return sink.response(id, 500, Buffer.from(m.content, 'utf8'), { format: 'text', type: 'error' })
        }
        return sink.event('error', { ccode: m.ccode, message: m.content })
      }
      default:
        this.trace('in', { kind: 'unknown', type: m.type, ccode: m.ccode, content: m.content })
    }
  }

  /** `4,<ccode>,<content>`: a request or push from the peer, or the answer to ours. */
  private onMessage(m: RawMessage, server: boolean): void {
    const sink = this.ctx.sink
    if (server || (m.content !== '' && looksLikeRequestBody(m.content))) {
      const body = decodeRequestBody(m.content)
      if (m.ccode === '0') {
        this.trace('in', { kind: 'push', id: 0, action: body.route, payload: body.payload, follow: false, fin: false, ccode: m.ccode })
        return sink.push(body.route, body.payload, META)
      }
      const id = this.incomingId()
      this.incoming.set(id, m.ccode)
      this.trace('in', { kind: 'request', id, action: body.route, payload: body.payload, follow: false, fin: false, ccode: m.ccode })
      return sink.request(id, body.route, body.payload, META)
    }
    const body = decodeResponseBody(m.content)
    const id = this.outgoing.get(m.ccode)
    const status = statusOf(body.code)
    // An error's `p` is its message: the payload is the text, as stmpcat's own errors are.
    const payload = status !== 200 && body.text !== undefined ? Buffer.from(body.text, 'utf8') : body.payload
    this.trace('in', { kind: 'response', id: id ?? 0, status, latency: null, payload, follow: false, fin: false, ccode: m.ccode, code: body.code })
    if (id === undefined) return
    this.outgoing.delete(m.ccode)
    sink.response(id, status, payload, body.code === -1 || body.code === statusOf(body.code) ? META : { format: 'text', code: body.code })
  }

  // ---- sending ----

  request(id: number, action: string, payload: Buffer): void {
    const json = this.checkedPayload(action, payload)
    const ccode = this.ccode()
    this.outgoing.set(ccode, id)
    this.trace('out', { kind: 'request', id, action, payload, follow: false, fin: false, ccode })
    this.write(TYPE.message, ccode, encodeRequestBody(action, json))
  }

  response(id: number, status: number, payload: Buffer): void {
    const ccode = this.incoming.get(id)
    if (ccode === undefined) return
    this.incoming.delete(id)
    this.trace('out', { kind: 'response', id, status, latency: null, payload, follow: false, fin: false, ccode })
    // 200 with nothing is what the real server sends for a handler that returned (nil, nil).
    const ok = status >= 200 && status <= 299
    this.write(TYPE.message, ccode, ok && payload.length === 0 ? '' : encodeResponseBody(codeOf(status), payload))
  }

  /** Client: a message without a callback (ccode "0"). Server: a broadcast from `action`. */
  push(_id: number, action: string, payload: Buffer): void {
    if (this.server) {
      if (action.includes(',')) throw new StmpError('BAD_INPUT', `a Stocking push goes out as 5,<room>,<payload>: the action ${JSON.stringify(action)} cannot hold a comma`)
      this.trace('out', { kind: 'push', id: 0, action, payload, follow: false, fin: false, type: 'broadcast', room: action })
      this.write(TYPE.broadcast, action, payload.toString('utf8'))
      return
    }
    const json = this.checkedPayload(action, payload)
    this.trace('out', { kind: 'push', id: 0, action, payload, follow: false, fin: false, ccode: '0' })
    this.write(TYPE.message, '0', encodeRequestBody(action, json))
  }

  ping(id: number): void {
    this.pings.push(id)
    this.trace('out', { kind: 'ping', id })
    this.write(TYPE.ping, '')
  }

  /** The server's answer is `3` (hub.go onPingPong); a client answers a server's ping `3,,`, the only ping a server reads. */
  pong(id: number): void {
    this.trace('out', { kind: 'pong', id })
    if (this.server) this.write(TYPE.ping)
    else this.write(TYPE.ping, '')
  }

  /** The WebSocket close frame: the real server answers it in kind (`2,,` would make it drop the TCP connection). */
  close(code: number, message: string): CloseAction {
    this.trace('out', { kind: 'close', status: code, message })
    return 'transport'
  }

  endArgs(code: number, message: string): [number?, string?] {
    const valid = code >= 1000 && code < 5000 && code !== 1005 && code !== 1006
    return [valid ? code : 1000, message]
  }

  /**
   * Rooms (wire notes §2): `join` `6,1,room`, `leave` `6,0,room`, `broadcast` `5,room,payload`
   * (the server forwards it unchanged to the room's other members).
   */
  command(name: string, args: Record<string, unknown>): void {
    const room = args.room
    if (typeof room !== 'string' || room === '') throw new StmpError('BAD_INPUT', `${name} needs a "room" (a non-empty string)`)
    if (name === 'room-missing' && this.server) {
      // What the real hub answers a broadcast to a channel it does not have (hub.go).
      const message = `Channel ${JSON.stringify(room)} not found`
      this.trace('out', { kind: 'error', ccode: '0', message })
      this.write(TYPE.error, '0', message)
      return
    }
    if (name === 'join' || name === 'leave') {
      this.trace('out', { kind: name, room })
      this.write(TYPE.join, name === 'join' ? '1' : '0', room)
      return
    }
    if (name === 'broadcast') {
      if (room.includes(',')) throw new StmpError('BAD_INPUT', `a room in 5,<room>,<payload> cannot hold a comma: ${JSON.stringify(room)}`)
      const p = args.payload
      const payload = Buffer.isBuffer(p) ? p : typeof p === 'string' ? Buffer.from(p, 'utf8') : p === undefined ? EMPTY : Buffer.from(JSON.stringify(p), 'utf8')
      this.trace('out', { kind: 'broadcast', room, payload })
      this.write(TYPE.broadcast, room, payload.toString('utf8'))
      return
    }
    throw new StmpError('BAD_INPUT', `Stocking has no ${name} (its commands: join, leave, broadcast)`)
  }

  reset(): void {
    this.outgoing.clear()
    this.incoming.clear()
    this.pings.length = 0
  }

  /** A client's request payload must be what the real server can read: else BAD_PAYLOAD, nothing sent. */
  private checkedPayload(action: string, payload: Buffer): string {
    const checked = requestPayload(payload)
    if ('json' in checked) return checked.json
    if (this.server) return checked.error === 'the payload is not JSON' ? JSON.stringify(payload.toString('utf8')) : payload.toString('utf8')
    throw new WireError('BAD_PAYLOAD', `${action}: ${checked.error}; a Stocking server reads "p" as an object (or null) and drops the connection on anything else`, 0, { closeCode: 1000 })
  }

  private ccode(): string {
    let n = this.nextCcode
    do n = (n % MAX_CCODE) + 1
    while (this.outgoing.has(String(n)))
    this.nextCcode = n
    return String(n)
  }

  private incomingId(): number {
    this.nextIncomingId = nextIncomingId(this.incoming, this.nextIncomingId, 'requests')
    return this.nextIncomingId
  }

  private peerPingId(): number {
    this.nextPeerPing = (this.nextPeerPing + 1) % 0x10000
    return PEER_PING_BASE + this.nextPeerPing
  }

  private write(type: string, ccode?: string, content = ''): void {
    this.ctx.out.write(ccode === undefined ? Buffer.from(type, 'utf8') : joinMessage(type, ccode, content), true)
  }

  private trace(direction: 'in' | 'out', frame: TraceFrame & Record<string, unknown>): void {
    if (this.ctx.sink.tracing) this.ctx.sink.trace(direction, frame)
  }
}
