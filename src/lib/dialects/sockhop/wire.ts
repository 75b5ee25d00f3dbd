import type { CloseAction, DialectOptions, MessageMeta, TraceFrame, Wire, WireContext } from '../types.js'
import { LineSplitter } from '../../codec/lines.js'
import { StmpError, WireError } from '../../errors.js'
import {
  BinaryReader, MSG, dataBytes, dataValue, decodeEnvelope, encodeBinary, encodeEnvelope, isBufferId, typeOf, uuid,
  type BinaryMessage, type Envelope,
} from './codec.js'

const PING = 'SockhopPing'
const PONG = 'SockhopPong'
const HANDSHAKE = 'SockhopHandshake'
const TRANSITION = 'SockhopBinaryModeTransition'
/** 1.8.x request streams: a SockhopRequest `{uuid, data, type}` answered by SockhopResponsePackets `{uuid, type, data, last}`. */
const STREAM_REQUEST = 'SockhopRequest'
const STREAM_PACKET = 'SockhopResponsePacket'
/** Packets of one answer stream kept before the last one (a bound: a peer that never says `last`). */
const MAX_STREAM_PACKETS = 10_000
/** An action that lets the data's own kind name the type (Object, Array, String, ...). */
const AUTO_TYPES = new Set(['', '-', 'auto'])
/**
 * After our SockhopBinaryModeTransition line, binary frames wait this long: a Sockhop 2.1.0
 * peer that reads the line and the first frames in one read parses the frames as JSON and
 * fails (wire notes §3, "Bug I reproduced"; it worked when the sender waited 100 ms).
 */
export const TRANSITION_GAP_MS = 100
const LIBRARY_VERSION = '2.1.0'

/** One message in the session's model, from either framing. */
interface Incoming {
  type: string
  /** JSON text, or for a buffer the JSON string of its base64 (as 2.x's JSON mode carries it). */
  payload: Buffer
  request?: string
  response?: string
  buffer?: boolean
}

/**
 * Sockhop on one connection: 1.x JSON mode (one envelope per line) and, with `-O version=2` on
 * a client or whenever a 2.x peer sends its handshake, the 2.x handshake and the binary mode,
 * switched per direction by a SockhopBinaryModeTransition line. No close message (the stream just
 * ends). Session ids map to the UUIDs of `id` / `callback_id` here.
 */
export class SockhopWire implements Wire {
  readonly initial: 'handshake' | 'open'
  private readonly lines: LineSplitter
  private readonly terminator: string
  private readonly server: boolean
  /** 2.x: we sent a handshake (a client with `-O version=2` at once; any side once the peer sent one). */
  private v2: boolean
  /** `-O version=1`: Sockhop 2.x's compatibility mode, handshakes ignored, JSON mode both ways. */
  private readonly compatibility: boolean
  private readonly requestBinary: boolean
  /** Binary mode per direction. */
  private rxBinary = false
  private txBinary = false
  private binary?: BinaryReader
  /** Frames written during the transition gap, in order. */
  private held: Buffer[] | undefined
  private gapTimer: NodeJS.Timeout | undefined
  /** 2.x handshake: our own answered, the peer's received. */
  private ourHandshake: string | undefined
  private ourAnswered = false
  private peerHandshake = false
  private openedOnce = false
  /** Our requests: uuid -> session id. */
  private readonly outgoing = new Map<string, number>()
  /** The peer's requests: session id -> uuid of its `id`. */
  private readonly incoming = new Map<number, string>()
  /** The peer's requests that came as SockhopRequest streams (answered by a last packet). */
  private readonly incomingStreams = new Set<number>()
  /** `-O stream=1`: our requests go out as SockhopRequests; their packets so far, by uuid. */
  private readonly streamRequests: boolean
  private readonly streamPackets = new Map<string, unknown[]>()
  private nextIncoming = 0
  /** Our pings by uuid, and the peer's pings by session id (their data goes back in the pong). */
  private readonly ourPings = new Map<string, number>()
  private readonly peerPings = new Map<number, Record<string, unknown>>()
  private nextPeerPing = 0

  constructor(private readonly ctx: WireContext) {
    const t = ctx.options.terminator
    this.terminator = typeof t === 'string' && t !== '' ? t.replace(/\\n/g, '\n').replace(/\\r/g, '\r').replace(/\\0/g, '\0') : '\n'
    this.lines = new LineSplitter(ctx.limits.maxFrameSize, (line, offset) => this.onLine(line, offset), this.terminator)
    this.server = ctx.role === 'server'
    checkOptions(ctx.options)
    const version = ctx.options.version === undefined ? undefined : String(ctx.options.version)
    this.compatibility = version === '1'
    this.v2 = !this.server && version === '2'
    this.requestBinary = String(ctx.options.binary ?? '1') !== '0'
    this.streamRequests = String(ctx.options.stream ?? '0') === '1'
    this.initial = this.v2 ? 'handshake' : 'open'
  }

  /** Client: a 2.x handshake goes out at once (2.x sides do not wait for each other). */
  start(): void {
    if (this.v2) this.sendHandshake()
  }

  refuse(): void {}

  receive(data: Buffer): void {
    try {
      if (this.rxBinary) return this.binaryReader().write(data)
      const rest = this.lines.write(data)
      // The peer's transition line came in this chunk: what follows it is binary.
      if (rest !== undefined && rest.length > 0) this.binaryReader().write(rest)
    } catch (err) {
      if (err instanceof Error && 'closeMessage' in err) this.ctx.sink.error(err as Parameters<WireContext['sink']['error']>[0])
      else throw err
    }
  }

  private binaryReader(): BinaryReader {
    this.binary ??= new BinaryReader(this.ctx.limits.maxFrameSize, (m) => this.onBinary(m))
    return this.binary
  }

  private onLine(line: Buffer, offset: number): void {
    const e = decodeEnvelope(line, offset)
    if (this.ctx.sink.tracing) this.ctx.sink.trace('in', traceOf(e))
    if (e.type === TRANSITION) {
      this.rxBinary = true
      this.binary = new BinaryReader(this.ctx.limits.maxFrameSize, (m) => this.onBinary(m))
      this.binary.offset = this.lines.offset
      this.lines.stop()
      return
    }
    this.onMessage({ type: e.type, payload: dataBytes(e.data), request: e.id, response: e.callback_id }, e.data)
  }

  private onBinary(m: BinaryMessage): void {
    const buffer = isBufferId(m.msgId)
    const payload = buffer ? Buffer.from(JSON.stringify(m.data.toString('base64')), 'utf8') : m.data
    const request = m.msgId === MSG.jsonRequest || m.msgId === MSG.bufferRequest ? m.callbackId : undefined
    const response = m.msgId === MSG.jsonResponse || m.msgId === MSG.bufferResponse ? m.callbackId : undefined
    if (this.ctx.sink.tracing) this.ctx.sink.trace('in', binaryTrace(m, payload))
    let value: unknown
    if (!buffer && (m.type === PING || m.type === PONG || m.type === HANDSHAKE || m.type === STREAM_REQUEST || m.type === STREAM_PACKET || response !== undefined)) value = parseJson(m.data)
    this.onMessage({ type: m.type, payload, request, response, buffer }, value)
  }

  /** `data`: the parsed data, where the control messages need it. */
  private onMessage(m: Incoming, data: unknown): void {
    const sink = this.ctx.sink
    if (m.type === PING) {
      const n = (this.nextPeerPing = (this.nextPeerPing % 0xffff) + 1)
      this.peerPings.set(n, (data ?? {}) as Record<string, unknown>)
      return sink.ping(n)
    }
    if (m.type === PONG) {
      const d = data as { _id?: unknown } | null
      const n = typeof d?._id === 'string' ? this.ourPings.get(d._id) : undefined
      if (n !== undefined) {
        this.ourPings.delete(d?._id as string)
        sink.pong(n)
      }
      return
    }
    if (m.type === HANDSHAKE && m.request !== undefined) {
      if (!this.compatibility) this.onPeerHandshake(m.request, data)
      return
    }
    if (m.response !== undefined && m.response === this.ourHandshake) return this.onHandshakeAnswer(data)
    const stream = streamOf(data)
    if (m.type === STREAM_REQUEST && stream !== undefined && m.request === undefined) {
      const n = (this.nextIncoming = (this.nextIncoming % 0xffff) + 1)
      this.incoming.set(n, stream.uuid)
      this.incomingStreams.add(n)
      return sink.request(n, stream.type ?? typeOf(stream.data), dataBytes(stream.data), { type: stream.type ?? typeOf(stream.data), stream: true })
    }
    if (m.type === STREAM_PACKET && stream !== undefined) return this.onStreamPacket(stream)
    const meta: MessageMeta = m.buffer ? { type: m.type, buffer: true } : { type: m.type }
    if (m.response !== undefined) {
      const n = this.outgoing.get(m.response)
      // An answer to nothing we asked (or asked twice): shown in traces, not an error.
      if (n === undefined) return
      this.outgoing.delete(m.response)
      return sink.response(n, 200, m.payload, meta)
    }
    if (m.request !== undefined) {
      const n = (this.nextIncoming = (this.nextIncoming % 0xffff) + 1)
      this.incoming.set(n, m.request)
      return sink.request(n, m.type, m.payload, meta)
    }
    sink.push(m.type, m.payload, meta)
  }

  /**
   * A packet of the answer to one of our SockhopRequests. The last one ends it: the response is
   * that packet's data when it was the only one, else the array of every packet's data (what
   * Sockhop's own `stream.all()` gives, the `{}` of `end()` included).
   */
  private onStreamPacket(p: { uuid: string; data: unknown; type?: string; last?: boolean }): void {
    const n = this.outgoing.get(p.uuid)
    if (n === undefined) return
    const packets = this.streamPackets.get(p.uuid) ?? []
    packets.push(p.data)
    if (!p.last) {
      if (packets.length > MAX_STREAM_PACKETS) {
        this.outgoing.delete(p.uuid)
        this.streamPackets.delete(p.uuid)
        return this.ctx.sink.response(n, 502, Buffer.from(`more than ${MAX_STREAM_PACKETS} SockhopResponsePackets without "last"`), { type: STREAM_PACKET })
      }
      this.streamPackets.set(p.uuid, packets)
      this.ctx.sink.event('stream-packet', { uuid: p.uuid, type: p.type, payload: dataBytes(p.data) })
      return
    }
    this.outgoing.delete(p.uuid)
    this.streamPackets.delete(p.uuid)
    this.ctx.sink.response(n, 200, dataBytes(packets.length === 1 ? packets[0] : packets), { type: p.type ?? STREAM_PACKET, stream: true, packets: packets.length })
  }

  // ---- the 2.x handshake ----

  private sendHandshake(): void {
    this.ourHandshake = uuid()
    this.send({ type: HANDSHAKE, data: { protocol_version: 2, library_version: LIBRARY_VERSION, request_binary_mode: this.requestBinary }, id: this.ourHandshake })
  }

  /** The peer's handshake: answered with whether it may go binary; a server sends its own now. */
  private onPeerHandshake(id: string, data: unknown): void {
    const asks = (data as { request_binary_mode?: unknown } | null)?.request_binary_mode === true
    // A 2.x peer waits for ours too (it fails its handshake after 3 s without it).
    if (!this.v2) {
      this.v2 = true
      this.sendHandshake()
    }
    this.peerHandshake = true
    this.send({ type: 'Object', data: { allow_binary_mode: asks && this.requestBinary }, callback_id: id })
    this.maybeOpened()
  }

  private onHandshakeAnswer(data: unknown): void {
    this.ourAnswered = true
    if ((data as { allow_binary_mode?: unknown } | null)?.allow_binary_mode === true && this.requestBinary) {
      this.send({ type: TRANSITION, data: {} })
      this.txBinary = true
      this.held = []
      this.gapTimer = setTimeout(() => this.flushHeld(), TRANSITION_GAP_MS)
      this.gapTimer.unref?.()
    }
    this.maybeOpened()
  }

  private maybeOpened(): void {
    if (this.initial === 'open' || this.openedOnce || !this.ourAnswered || !this.peerHandshake) return
    this.openedOnce = true
    this.ctx.sink.opened({ agreed: { sockhop: 2, binary: this.txBinary } })
  }

  private flushHeld(): void {
    this.gapTimer = undefined
    const held = this.held ?? []
    this.held = undefined
    for (const b of held) this.ctx.out.write(b)
  }

  // ---- sending ----

  private send(e: Envelope): void {
    if (this.ctx.sink.tracing) this.ctx.sink.trace('out', traceOf(e))
    this.ctx.out.write(encodeEnvelope(e, this.terminator))
  }

  /** A message in the current tx framing: a JSON line, or a binary frame (held during the gap). */
  private sendMessage(type: string, data: unknown, ids: { request?: string; response?: string }, buffer?: Buffer): void {
    if (!this.txBinary) {
      const e: Envelope = { type, data: buffer ? buffer.toString('base64') : data }
      if (ids.request !== undefined) e.id = ids.request
      if (ids.response !== undefined) e.callback_id = ids.response
      return this.send(e)
    }
    const base = buffer ? MSG.buffer : MSG.json
    const msgId = ids.request !== undefined ? base + 1 : ids.response !== undefined ? base + 2 : base
    const m: BinaryMessage = { msgId, type, data: buffer ?? dataBytes(data), callbackId: ids.request ?? ids.response }
    const bytes = encodeBinary(m)
    if (this.ctx.sink.tracing) this.ctx.sink.trace('out', binaryTrace(m, buffer ? Buffer.from(JSON.stringify(buffer.toString('base64'))) : m.data))
    if (this.held) this.held.push(bytes)
    else this.ctx.out.write(bytes)
  }

  request(id: number, action: string, payload: Buffer, meta?: MessageMeta): void {
    const data = dataValue(payload)
    const key = uuid()
    this.outgoing.set(key, id)
    if (this.streamRequests) return this.sendMessage(STREAM_REQUEST, { uuid: key, data, type: AUTO_TYPES.has(action) ? typeOf(data) : action }, {})
    this.sendMessage(AUTO_TYPES.has(action) ? typeOf(data) : action, data, { request: key }, bufferOf(data, meta))
  }

  response(id: number, _status: number, payload: Buffer, meta?: MessageMeta): void {
    const key = this.incoming.get(id)
    if (key === undefined) return
    this.incoming.delete(id)
    const data = dataValue(payload)
    if (this.incomingStreams.delete(id)) return this.sendMessage(STREAM_PACKET, { uuid: key, type: typeOf(data), data, last: true }, {})
    const buffer = bufferOf(data, meta)
    this.sendMessage(buffer ? (meta?.type as string | undefined) ?? 'Buffer' : typeOf(data), data, { response: key }, buffer)
  }

  push(_id: number, action: string, payload: Buffer, meta?: MessageMeta): void {
    const data = dataValue(payload)
    this.sendMessage(AUTO_TYPES.has(action) ? typeOf(data) : action, data, {}, bufferOf(data, meta))
  }

  ping(id: number): void {
    const key = uuid()
    this.ourPings.set(key, id)
    this.sendMessage(PING, { _id: key, _created: new Date().toISOString(), _returned: null, _finished: null }, {})
  }

  pong(id: number): void {
    const ping = this.peerPings.get(id) ?? {}
    this.peerPings.delete(id)
    this.sendMessage(PONG, { _id: ping._id ?? null, _created: ping._created ?? null, _returned: new Date().toISOString(), _finished: null }, {})
  }

  /**
   * `buffer {type?, base64 | hex}`: a (typed) buffer, Sockhop's `send_typed_buffer`: binary
   * message 13 in binary mode, `{"type", "data": base64}` as 2.x writes it in JSON mode.
   */
  command(name: string, args: Record<string, unknown>): void {
    if (name !== 'buffer') throw new WireError('BAD_INPUT', `Sockhop has no ${name} (its command: buffer {type, base64 | hex})`, 0)
    const type = typeof args.type === 'string' && args.type !== '' ? args.type : 'Buffer'
    let bytes: Buffer
    if (typeof args.base64 === 'string') bytes = Buffer.from(args.base64, 'base64')
    else if (typeof args.hex === 'string' && /^(?:[0-9a-fA-F]{2})*$/.test(args.hex)) bytes = Buffer.from(args.hex, 'hex')
    else throw new WireError('BAD_INPUT', 'buffer needs "base64" or "hex" (an even number of hex digits)', 0)
    this.sendMessage(type, undefined, {}, bytes)
  }

  /** Sockhop has no close message: a disconnect is the stream's end. What waits in the gap goes first. */
  close(): CloseAction {
    if (this.gapTimer) clearTimeout(this.gapTimer)
    if (this.held) this.flushHeld()
    return 'end'
  }

  endArgs(): [number?, string?] {
    return []
  }

  get buffered(): number {
    return this.lines.buffered + (this.binary?.buffered ?? 0)
  }

  reset(): void {
    if (this.gapTimer) clearTimeout(this.gapTimer)
    this.gapTimer = undefined
    this.held = undefined
    this.outgoing.clear()
    this.incoming.clear()
    this.incomingStreams.clear()
    this.streamPackets.clear()
    this.ourPings.clear()
    this.peerPings.clear()
  }
}

/** `-O version=1|2`, `-O binary=0|1`: BAD_FLAG on anything else. */
export function checkOptions(options: DialectOptions): void {
  const version = options.version === undefined ? undefined : String(options.version)
  if (version !== undefined && version !== '1' && version !== '2') throw new StmpError('BAD_FLAG', `-O version=${version}: Sockhop versions are 1 (JSON mode only, handshakes ignored) and 2 (the 2.x handshake first, then binary mode)`)
  const stream = options.stream === undefined ? undefined : String(options.stream)
  if (stream !== undefined && stream !== '0' && stream !== '1') throw new StmpError('BAD_FLAG', `-O stream=${stream}: 1 sends requests as SockhopRequest streams, 0 (the default) as sends with a callback`)
  const binary = options.binary === undefined ? undefined : String(options.binary)
  if (binary !== undefined && binary !== '0' && binary !== '1') throw new StmpError('BAD_FLAG', `-O binary=${binary}: 1 asks the peer for binary mode (the default), 0 stays in JSON mode`)
}

/** The `{uuid, data, type, last}` of a SockhopRequest or SockhopResponsePacket. */
function streamOf(data: unknown): { uuid: string; data: unknown; type?: string; last?: boolean } | undefined {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return undefined
  const o = data as Record<string, unknown>
  if (typeof o.uuid !== 'string') return undefined
  return { uuid: o.uuid, data: o.data, type: typeof o.type === 'string' ? o.type : undefined, last: o.last === true }
}

/** A payload meant as a buffer: `meta.buffer` with a base64 JSON string (what a received buffer looks like). */
function bufferOf(data: unknown, meta: MessageMeta | undefined): Buffer | undefined {
  if (meta?.buffer !== true || typeof data !== 'string') return undefined
  return Buffer.from(data, 'base64')
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch {
    return undefined
  }
}

/** An envelope as traces and decode show it. */
export function traceOf(e: Envelope): TraceFrame {
  const payload = dataBytes(e.data)
  if (e.type === PING || e.type === PONG) return { kind: e.type === PING ? 'ping' : 'pong', type: e.type, data: e.data } as TraceFrame
  if (e.type === HANDSHAKE) return { kind: 'handshake', type: e.type, uuid: e.id, data: e.data } as TraceFrame
  if (e.type === TRANSITION) return { kind: 'binary-mode', type: e.type } as TraceFrame
  const stream = streamOf(e.data)
  if (e.type === STREAM_REQUEST && stream) return { kind: 'request', type: stream.type ?? typeOf(stream.data), action: stream.type ?? typeOf(stream.data), uuid: stream.uuid, stream: true, payload: dataBytes(stream.data) } as TraceFrame
  if (e.type === STREAM_PACKET && stream) return { kind: 'response', type: stream.type ?? typeOf(stream.data), callbackId: stream.uuid, stream: true, last: stream.last, status: 200, payload: dataBytes(stream.data) } as TraceFrame
  if (e.callback_id !== undefined) return { kind: 'response', type: e.type, callbackId: e.callback_id, status: 200, payload } as TraceFrame
  if (e.id !== undefined) return { kind: 'request', type: e.type, action: e.type, uuid: e.id, payload } as TraceFrame
  return { kind: 'push', type: e.type, action: e.type, payload } as TraceFrame
}

/** A binary message as traces and decode show it (`msgId` and `binary: true` beside the fields of JSON mode). */
export function binaryTrace(m: BinaryMessage, payload: Buffer): TraceFrame {
  const base: Record<string, unknown> = { type: m.type, msgId: m.msgId, binary: true }
  const buffer: Record<string, unknown> = isBufferId(m.msgId) ? { buffer: true } : {}
  if (!isBufferId(m.msgId) && (m.type === PING || m.type === PONG)) return { kind: m.type === PING ? 'ping' : 'pong', ...base, data: parseJson(m.data) } as TraceFrame
  if (m.msgId === MSG.jsonResponse || m.msgId === MSG.bufferResponse) return { kind: 'response', ...base, ...buffer, callbackId: m.callbackId, status: 200, payload } as TraceFrame
  if (m.msgId === MSG.jsonRequest || m.msgId === MSG.bufferRequest) return { kind: 'request', ...base, ...buffer, action: m.type, uuid: m.callbackId, payload } as TraceFrame
  return { kind: 'push', ...base, ...buffer, action: m.type, payload } as TraceFrame
}
