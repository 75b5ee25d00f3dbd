import { WireError } from '../../errors.js'
import type { CloseAction, MessageMeta, Wire, WireContext } from '../types.js'
import type { ProtoRegistry } from '../../payload/protobuf.js'
import { type ActionTable, actionTable, nameOfAction, resolveAction } from './actions.js'
import { handshakeFields, packetFields } from './capture.js'
import {
  DEFAULT_MAX_PACKET, type Handshake, type HeaderList, type Packet, PacketStream, actionName, closeCodeOf, closeStatusOf,
  decodeHandshake, decodePacket, decodePacketText, decodeServerHandshakeText, encodeClientHandshake, encodePacket,
  encodePacketInto, encodePacketText, encodeServerHandshake, encodeServerHandshakeText, headerGet, headerList, headerRecord,
  marshalHeaders, packetSize, statusName, statusOf, wireStatusOf,
} from './codec.js'
import { Deflater, Inflater } from './gzip.js'

const STRING_METHOD_HINT = 'sent as a string method; a stmp-go server routes numeric actions only: give the action (0x1234) or the .proto that names it (--proto FILE)'

/** Ids of pings from the peer: above the session's own ping ids (1..0xffff). */
const PEER_PING_BASE = 0x10000
/** A peer's request with mid 0 (its u16 counter wrapped) gets this session id. */
const MID_ZERO_ID = 0x10000
const EMPTY = Buffer.alloc(0)
/** Packets up to this size on a stream are encoded into the session's shared pool (WireOutput.reserve: at most 4 KiB). */
const POOLED_MAX = 4096
const META_BINARY: MessageMeta = Object.freeze({ format: 'binary' as const })
const META_TEXT: MessageMeta = Object.freeze({ format: 'text' as const })
/** Longest Close message sent (stmp-go has no limit of its own but its 16 MiB). */
const MAX_CLOSE_MESSAGE = 1024

type ErrorArg = Parameters<WireContext['sink']['error']>[0]

/**
 * stmp-go 1.0 on one connection (wire notes §1; stmp/conn.go, client.go, server.go):
 *
 * - Streams: the client sends `STMP` + version + headers, the server answers `STMP` + status +
 *   headers (Content-Type, Content-Encoding, Packet-Format) + message; a status other than 0 is
 *   a refusal (HANDSHAKE_REFUSED with the server's message). With `Content-Encoding: gzip` each
 *   direction after the handshake is one gzip stream flushed per packet.
 * - WebSocket: the client's headers are in the upgrade query (Dialect.upgrade); the server's
 *   first message is its handshake (binary, or a text message in the text format); then one
 *   packet per message, binary or text (text packets go in binary messages, as stmp-go does).
 * - Session ids are mids (u16); a Ping is answered by a Pong (the oldest ping waiting); Notify
 *   is the push. stmp-go answers every Notify with a Response mid 0 (quirk 2): a Response to
 *   nothing this side asked is shown in traces and dropped, the session goes on.
 * - Close is a Close packet (status + message), echoed by the receiver; a second Close after
 *   that (stmp-go writes one when its read fails at the end) is tolerated. On WebSocket the
 *   transport then ends with close 1000 "OK", as stmp-go does.
 */
export class StmpGoWire implements Wire {
  readonly initial: 'handshake'
  private readonly server: boolean
  private readonly stream: boolean
  private readonly maxPacket: number
  private readonly packets?: PacketStream
  private readonly actions?: ActionTable
  /** Packet headers sent with every request and push (`-O packet-header=k:v;k:v`). */
  private readonly packetHeaders?: HeaderList
  private opened: boolean
  private held: Buffer = EMPTY
  private received = 0
  private text = false
  private deflater?: Deflater
  private inflater?: Inflater
  private readonly pings: number[] = []
  private nextPeerPing = 0
  /** Client on WebSocket: start() was called; before it, the server's handshake message waits in `early`. */
  private started = false
  private early?: [Buffer, boolean]
  private closeReceived = false
  /** Mids of requests sent as a string method (SA bit): a NotFound to one gets a hint. At most 65,536. */
  private readonly stringMids = new Set<number>()
  /** The status of the peer's Close: the answer echoes it, as stmp-go's dispatchPacket sends the packet back. */
  private peerCloseStatus?: number
  private closeSent = false

  constructor(private readonly ctx: WireContext) {
    this.server = ctx.role === 'server'
    this.stream = ctx.framing === 'stream'
    const max = Number(ctx.options['max-packet'] ?? ctx.options.maxPacket ?? DEFAULT_MAX_PACKET)
    this.maxPacket = Number.isFinite(max) && max > 0 ? max : DEFAULT_MAX_PACKET
    this.actions = tableOf(ctx.options)
    const ph = ctx.options['packet-header']
    if (typeof ph === 'string' && ph !== '') this.packetHeaders = ph.split(';').map((kv) => splitHeader(kv))
    // A WebSocket server says its handshake in accepted() and is open then; everyone else negotiates.
    // Everyone negotiates; a WebSocket server's negotiation is the upgrade, and it opens in accepted().
    this.initial = 'handshake'
    this.opened = false
    if (this.stream) this.packets = new PacketStream((p, offset) => this.onPacket(p, offset), this.maxPacket)
  }

  get buffered(): number {
    return this.opened ? (this.packets?.buffered ?? 0) + (this.inflater ? 1 : 0) : this.held.length
  }

  skipped(bytes: number): void {
    this.packets?.skip(bytes)
  }

  // ---- negotiation ----

  /** Client: the handshake headers are the target URL's query (Dialect.upgrade put them there) and its headers. */
  start(request: { url: string; headers: Record<string, string> }): void {
    if (!this.stream) {
      // WebSocket: the server's handshake message may have come already (it can share the 101's
      // read): read now that the session is set up (its -v trace shows the upgrade first).
      this.started = true
      const early = this.early
      this.early = undefined
      if (early) this.receive(early[0], early[1])
      return
    }
    const headers = handshakeHeaders(request.url, request.headers)
    const hs: Handshake = { side: 'client', major: 1, minor: 0, headers, message: '' }
    this.trace('out', handshakeFields(hs))
    this.ctx.out.write(encodeClientHandshake(headers))
  }

  /** Server on WebSocket: the upgrade was accepted; the server's first message is its handshake. */
  accepted(request: { url: string; headers: Record<string, string> }, decision: { contentType?: string; agreed?: Record<string, unknown> }): void {
    if (!this.server || this.stream) return
    this.text = decision.agreed?.packetFormat === 'text'
    this.writeServerHandshake(0, this.serverHeaders(decision), '')
    this.opened = true
    // The client's headers are the HTTP headers and the query, the query winning (HandleWebsocketConn).
    const headers: Record<string, string> = { ...lowerKeys(request.headers) }
    const q = request.url.indexOf('?')
    if (q !== -1) for (const [k, v] of new URLSearchParams(request.url.slice(q + 1))) headers[k.toLowerCase()] = v
    this.ctx.sink.opened({ url: request.url, headers, contentType: decision.contentType, agreed: decision.agreed })
  }

  refuse(status: number, message: string): void {
    if (!this.server) return
    this.writeServerHandshake(wireStatusOf(status), [], message)
  }

  private writeServerHandshake(status: number, headers: HeaderList, message: string): void {
    this.trace('out', handshakeFields({ side: 'server', status, headers, message }))
    if (!this.stream && this.text) this.ctx.out.write(encodeServerHandshakeText(status, headers, message), true)
    else this.ctx.out.write(encodeServerHandshake(status, headers, message))
  }

  private serverHeaders(decision: { contentType?: string; agreed?: Record<string, unknown> }): HeaderList {
    const headers: HeaderList = [['Content-Type', decision.contentType ?? 'application/json']]
    if (this.stream && decision.agreed?.gzip === true) headers.push(['Content-Encoding', 'gzip'])
    if (typeof decision.agreed?.packetFormat === 'string' && decision.agreed.packetFormat !== '') headers.push(['Packet-Format', decision.agreed.packetFormat])
    return headers
  }

  // ---- receiving ----

  receive(data: Buffer, text: boolean): void {
    try {
      if (this.stream) this.receiveStream(data)
      else this.receiveMessage(data, text)
    } catch (err) {
      if (!(err instanceof WireError)) throw err
      // A server whose client's handshake is unreadable answers in kind, as stmp-go's
      // HandleConn does: a handshake with the status (ProtocolError, RequestEntityTooLarge).
      if (this.server && this.stream && !this.opened) this.writeServerHandshake(err.code === 'TOO_LARGE' ? 0x24 : 0x03, [], err.message)
      this.ctx.sink.error(err as ErrorArg)
    }
  }

  private receiveMessage(data: Buffer, text: boolean): void {
    if (!this.opened && !this.server && !this.started) {
      this.early = [data, text]
      return
    }
    if (!this.opened) {
      // Client: the server's first message is its handshake.
      const h = text ? decodeServerHandshakeText(data.toString('utf8')) : decodeHandshake(data, 'server', this.maxPacket)?.handshake
      if (h === undefined) throw new WireError('TRUNCATED', 'the server\'s handshake message ends inside the handshake', 0)
      this.onServerHandshake(h)
      return
    }
    if (this.closeReceived && this.closeSent) return
    const p = data.length > 0 && data[0] < 0x80 ? decodePacketText(data, this.maxPacket, this.received) : decodePacket(data, 0, data.length, false, this.maxPacket, this.received)!.packet
    this.received += data.length
    this.onPacket(p, 0)
  }

  private receiveStream(data: Buffer): void {
    let rest = data
    if (!this.opened) {
      this.held = this.held.length > 0 ? Buffer.concat([this.held, data]) : data
      const r = decodeHandshake(this.held, this.server ? 'client' : 'server', this.maxPacket)
      if (r === undefined) {
        this.held = Buffer.from(this.held)
        return
      }
      rest = this.held.subarray(r.size)
      this.held = EMPTY
      this.packets!.skip(r.size)
      if (this.server) this.onClientHandshake(r.handshake)
      else this.onServerHandshake(r.handshake)
      if (!this.opened || rest.length === 0) return
    }
    if (this.inflater) {
      const plain = this.inflater.inflate(rest, this.packets!.position)
      if (plain.length > 0) this.packets!.write(plain)
      return
    }
    this.packets!.write(rest)
  }

  private onClientHandshake(h: Handshake): void {
    this.trace('in', handshakeFields(h))
    const headers = { ...headerRecord(h.headers), 'Stmp-Version': `${h.major}.${h.minor}` }
    const request = { url: '/', headers }
    const decision = this.ctx.sink.negotiate(request)
    // A refusal was answered already (Session.refuseHandshake -> refuse()).
    if (decision.status !== 200) return
    this.writeServerHandshake(0, this.serverHeaders(decision), '')
    if (decision.agreed?.gzip === true) this.gzip()
    this.opened = true
    this.ctx.sink.opened({ url: request.url, headers: lowerKeys(headers), contentType: decision.contentType, agreed: decision.agreed })
  }

  private onServerHandshake(h: Handshake): void {
    const status = h.status ?? 0
    // On WebSocket after the upgrade's lines, which the session's opening prints.
    if (this.stream || status !== 0) this.trace('in', handshakeFields(h))
    if (status !== 0) {
      this.ctx.sink.refused(statusOf(status), h.message !== '' ? `${h.message} (stmp-go status 0x${status.toString(16).padStart(2, '0')} ${statusName(status)})` : `stmp-go status 0x${status.toString(16).padStart(2, '0')} ${statusName(status)}`)
      return
    }
    const contentType = headerGet(h.headers, 'Content-Type')
    const encoding = headerGet(h.headers, 'Content-Encoding')
    const packetFormat = headerGet(h.headers, 'Packet-Format')
    this.text = !this.stream && packetFormat === 'text'
    if (this.stream && encoding === 'gzip') this.gzip()
    this.opened = true
    this.ctx.sink.opened({
      headers: headerRecord(h.headers),
      contentType,
      agreed: { ...(encoding ? { contentEncoding: encoding } : {}), ...(packetFormat ? { packetFormat } : {}), ...(h.message ? { message: h.message } : {}) },
    })
    if (!this.stream) this.trace('in', handshakeFields(h))
  }

  /** Both directions after the handshake are gzip streams (encoding.go). */
  private gzip(): void {
    this.deflater = new Deflater()
    this.inflater = new Inflater(this.maxPacket * 2 + 64)
  }

  private onPacket(p: Packet, _offset: number): void {
    const sink = this.ctx.sink
    if (sink.tracing) sink.trace('in', traceFrame(p, this.actions))
    switch (p.kind) {
      case 'ping':
        this.nextPeerPing = (this.nextPeerPing + 1) % 0x10000
        return sink.ping(PEER_PING_BASE + this.nextPeerPing)
      case 'pong':
        if (this.pings.length > 0) sink.pong(this.pings.shift() as number)
        return
      case 'request': {
        const id = p.mid === 0 ? MID_ZERO_ID : (p.mid as number)
        return sink.request(id, this.actionOf(p), p.payload, this.meta(p))
      }
      case 'notify':
        return sink.push(this.actionOf(p), p.payload, this.meta(p))
      case 'response': {
        // mid 0: stmp-go's answer to a Notify (quirk 2); nothing waits for it.
        if (p.mid === 0) return
        const status = statusOf(p.status ?? 0)
        const meta = this.meta(p)
        if (this.stringMids.delete(p.mid as number) && status === 404) {
          // Quirk 1: a real stmp-go router looks only at numeric actions.
          return sink.response(p.mid as number, status, p.payload, { ...meta, hint: STRING_METHOD_HINT })
        }
        return sink.response(p.mid as number, status, p.payload, meta)
      }
      case 'close': {
        // The second Close stmp-go writes after the close handshake: nothing more to do.
        if (this.closeReceived) return
        this.closeReceived = true
        this.peerCloseStatus = p.status
        const message = p.payload.toString('utf8')
        return sink.close(closeCodeOf(p.status ?? 0), message)
      }
    }
  }

  private actionOf(p: Packet): string {
    if (p.method !== undefined) return p.method
    return nameOfAction(p.action as number | bigint, this.actions)
  }

  private meta(p: Packet): MessageMeta {
    if ((!p.headers || p.headers.length === 0) && (p.status === undefined || p.status === 0)) return this.text ? META_TEXT : META_BINARY
    const meta: MessageMeta = { format: this.text ? 'text' : 'binary' }
    if (p.headers && p.headers.length > 0) meta.headers = headerRecord(p.headers)
    if (p.status !== undefined) meta.wireStatus = p.status
    return meta
  }

  // ---- sending ----

  request(id: number, action: string, payload: Buffer, meta?: MessageMeta): void {
    const target = resolveAction(action, this.actions)
    if ('method' in target) this.stringMids.add(id & 0xffff)
    this.send({ kind: 'request', mid: id & 0xffff, ...target, headers: this.headersFor(meta), payload })
  }

  response(id: number, status: number, payload: Buffer, meta?: MessageMeta): void {
    const mid = id === MID_ZERO_ID ? 0 : id & 0xffff
    const headers = meta?.responseHeaders !== undefined ? headerList(meta.responseHeaders as Record<string, string>) : undefined
    this.send({ kind: 'response', mid, status: wireStatusOf(status), headers, payload })
  }

  push(_id: number, action: string, payload: Buffer, meta?: MessageMeta): void {
    const target = resolveAction(action, this.actions)
    this.send({ kind: 'notify', ...target, headers: this.headersFor(meta), payload })
  }

  ping(id: number): void {
    this.pings.push(id)
    this.send({ kind: 'ping', payload: EMPTY })
  }

  pong(_id: number): void {
    this.send({ kind: 'pong', payload: EMPTY })
  }

  close(code: number, message: string): CloseAction {
    if (this.closeSent) return 'frame'
    // Before the handshake is done there is no packet to send: the connection just ends.
    if (!this.opened) return 'end'
    this.closeSent = true
    // Short enough that the peer's echo of it fits this side's own limit too.
    const max = Math.max(0, Math.min(MAX_CLOSE_MESSAGE, this.maxPacket - 8))
    let m = Buffer.from(message, 'utf8')
    if (m.length > max) m = m.subarray(0, max)
    const status = this.closeReceived && this.peerCloseStatus !== undefined ? this.peerCloseStatus : closeStatusOf(code)
    this.send({ kind: 'close', status, payload: m })
    return 'frame'
  }

  /** WebSocket: stmp-go ends with close 1000 "OK" after the Close packets. */
  endArgs(): [number?, string?] {
    return this.stream ? [] : [1000, 'OK']
  }

  reset(): void {
    this.pings.length = 0
    this.inflater?.close()
    this.deflater?.close()
    this.inflater = undefined
    this.deflater = undefined
  }

  private headersFor(meta: MessageMeta | undefined): HeaderList | undefined {
    const own = meta?.headers ? headerList(meta.headers) : []
    if (!this.packetHeaders) return own.length > 0 ? own : undefined
    return [...this.packetHeaders, ...own]
  }

  private send(p: Packet): void {
    if (this.ctx.sink.tracing) this.trace('out', traceFrame(p, this.actions))
    if (!this.stream) {
      this.ctx.out.write(this.text ? encodePacketText(p) : encodePacket(p, false), false)
      return
    }
    const out = this.ctx.out
    const headers = p.headers && p.headers.length > 0 ? marshalHeaders(p.headers) : EMPTY
    const size = packetSize(p, true, headers)
    if (!this.deflater && size <= POOLED_MAX) {
      // Small packets go straight into the session's shared write pool (no Buffer per packet).
      // reserve() first: it may start a new pool.
      const pos = out.reserve(size)
      encodePacketInto(p, true, headers, out.pool, pos)
      return
    }
    const bytes = Buffer.allocUnsafe(size)
    encodePacketInto(p, true, headers, bytes, 0)
    out.write(this.deflater ? this.deflater.write(bytes) : bytes)
  }

  private trace(direction: 'in' | 'out', frame: Record<string, unknown> & { kind: string }): void {
    if (this.ctx.sink.tracing) this.ctx.sink.trace(direction, frame)
  }
}

/**
 * A packet as -v and --log show it: the fields of the core model the trace renderer reads
 * (request/push with action and payload, response with status and payload, close) and
 * stmp-go's own (wireStatus, headers, method).
 */
function traceFrame(p: Packet, actions: ActionTable | undefined): Record<string, unknown> & { kind: string } {
  const f = packetFields(p)
  delete f.value
  if (p.kind === 'request' || p.kind === 'notify' || p.kind === 'response') {
    f.payload = p.payload
    f.follow = false
    f.fin = false
  }
  if (p.kind === 'request' || p.kind === 'notify') {
    f.action = p.method ?? nameOfAction(p.action as number | bigint, actions)
    if (p.method !== undefined) f.stringAction = true
    else if (actions && f.action !== actionName(p.action as number | bigint)) f.actionId = actionName(p.action as number | bigint)
    delete f.method
  }
  if (p.kind === 'notify') {
    f.kind = 'push'
    f.id = 0
    f.notify = true
  }
  if (p.kind === 'ping' || p.kind === 'pong') f.id = 0
  return f
}

const tables = new WeakMap<object, ActionTable>()

/** The action table of the .proto files the command loaded (`--proto`), built once per registry. */
function tableOf(options: Record<string, unknown>): ActionTable | undefined {
  if (options.actions !== undefined) return options.actions as ActionTable
  const registry = options.protoRegistry as ProtoRegistry | undefined
  if (registry === undefined) return undefined
  let t = tables.get(registry)
  if (!t) tables.set(registry, (t = actionTable(registry)))
  return t
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v
  return out
}

function splitHeader(kv: string): [string, string] {
  const i = kv.indexOf(':')
  return i === -1 ? [kv.trim(), ''] : [kv.slice(0, i).trim(), kv.slice(i + 1).trim()]
}

/** A stream client's handshake headers: the URL's query (but Stmp-Version, the version byte says it) and the given headers. */
export function handshakeHeaders(url: string, headers: Record<string, string>): HeaderList {
  const out: HeaderList = []
  const q = url.indexOf('?')
  if (q !== -1) for (const [k, v] of new URLSearchParams(url.slice(q + 1))) if (k !== 'Stmp-Version') out.push([k, v])
  for (const [k, v] of Object.entries(headers)) out.push([k, v])
  return out
}

