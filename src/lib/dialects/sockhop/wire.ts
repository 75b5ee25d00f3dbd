import type { CloseAction, TraceFrame, Wire, WireContext } from '../types.js'
import { LineSplitter } from '../../codec/lines.js'
import { dataBytes, dataValue, decodeEnvelope, encodeEnvelope, typeOf, uuid, type Envelope } from './codec.js'

const PING = 'SockhopPing'
const PONG = 'SockhopPong'
/** An action that lets the data's own kind name the type (Object, Array, String, ...). */
const AUTO_TYPES = new Set(['', '-', 'auto'])

/**
 * Sockhop 1.x (JSON mode) on one connection. Open at once (no negotiation); no close message
 * (the stream just ends). Session ids map to the UUIDs of `id` / `callback_id` here.
 */
export class SockhopWire implements Wire {
  readonly initial = 'open' as const
  private readonly lines: LineSplitter
  private readonly terminator: string
  /** Our requests: session id -> uuid, and back. */
  private readonly outgoing = new Map<string, number>()
  /** The peer's requests: session id -> uuid of its `id`. */
  private readonly incoming = new Map<number, string>()
  private nextIncoming = 0
  /** Our pings by uuid, and the peer's pings by session id (their data goes back in the pong). */
  private readonly ourPings = new Map<string, number>()
  private readonly peerPings = new Map<number, Record<string, unknown>>()
  private nextPeerPing = 0

  constructor(private readonly ctx: WireContext) {
    const t = ctx.options.terminator
    this.terminator = typeof t === 'string' && t !== '' ? t.replace(/\\n/g, '\n').replace(/\\r/g, '\r').replace(/\\0/g, '\0') : '\n'
    this.lines = new LineSplitter(ctx.limits.maxFrameSize, (line, offset) => this.onLine(line, offset), this.terminator)
  }

  start(): void {}

  refuse(): void {}

  receive(data: Buffer): void {
    try {
      this.lines.write(data)
    } catch (err) {
      if (err instanceof Error && 'closeMessage' in err) this.ctx.sink.error(err as Parameters<WireContext['sink']['error']>[0])
      else throw err
    }
  }

  private onLine(line: Buffer, offset: number): void {
    const e = decodeEnvelope(line, offset)
    const sink = this.ctx.sink
    if (sink.tracing) sink.trace('in', traceOf(e))
    if (e.type === PING) {
      const n = (this.nextPeerPing = (this.nextPeerPing % 0xffff) + 1)
      this.peerPings.set(n, (e.data ?? {}) as Record<string, unknown>)
      return sink.ping(n)
    }
    if (e.type === PONG) {
      const d = e.data as { _id?: unknown } | null
      const n = typeof d?._id === 'string' ? this.ourPings.get(d._id) : undefined
      if (n !== undefined) {
        this.ourPings.delete(d?._id as string)
        sink.pong(n)
      }
      return
    }
    if (e.callback_id !== undefined) {
      const n = this.outgoing.get(e.callback_id)
      // An answer to nothing we asked (or asked twice): shown in traces, not an error.
      if (n === undefined) return
      this.outgoing.delete(e.callback_id)
      return sink.response(n, 200, dataBytes(e.data), { type: e.type })
    }
    if (e.id !== undefined) {
      const n = (this.nextIncoming = (this.nextIncoming % 0xffff) + 1)
      this.incoming.set(n, e.id)
      return sink.request(n, e.type, dataBytes(e.data), { type: e.type })
    }
    sink.push(e.type, dataBytes(e.data), { type: e.type })
  }

  private send(e: Envelope): void {
    if (this.ctx.sink.tracing) this.ctx.sink.trace('out', traceOf(e))
    this.ctx.out.write(encodeEnvelope(e, this.terminator))
  }

  request(id: number, action: string, payload: Buffer): void {
    const data = dataValue(payload)
    const key = uuid()
    this.outgoing.set(key, id)
    this.send({ type: AUTO_TYPES.has(action) ? typeOf(data) : action, data, id: key })
  }

  response(id: number, _status: number, payload: Buffer): void {
    const key = this.incoming.get(id)
    if (key === undefined) return
    this.incoming.delete(id)
    const data = dataValue(payload)
    this.send({ type: typeOf(data), data, callback_id: key })
  }

  push(_id: number, action: string, payload: Buffer): void {
    const data = dataValue(payload)
    this.send({ type: AUTO_TYPES.has(action) ? typeOf(data) : action, data })
  }

  ping(id: number): void {
    const key = uuid()
    this.ourPings.set(key, id)
    this.send({ type: PING, data: { _id: key, _created: new Date().toISOString(), _returned: null, _finished: null } })
  }

  pong(id: number): void {
    const ping = this.peerPings.get(id) ?? {}
    this.peerPings.delete(id)
    this.send({ type: PONG, data: { _id: ping._id ?? null, _created: ping._created ?? null, _returned: new Date().toISOString(), _finished: null } })
  }

  /** Sockhop has no close message: a disconnect is the stream's end. */
  close(): CloseAction {
    return 'end'
  }

  endArgs(): [number?, string?] {
    return []
  }

  reset(): void {
    this.outgoing.clear()
    this.incoming.clear()
    this.ourPings.clear()
    this.peerPings.clear()
  }
}

/** An envelope as traces and decode show it. */
export function traceOf(e: Envelope): TraceFrame {
  const payload = dataBytes(e.data)
  if (e.type === PING || e.type === PONG) return { kind: e.type === PING ? 'ping' : 'pong', type: e.type, data: e.data } as TraceFrame
  if (e.callback_id !== undefined) return { kind: 'response', type: e.type, callbackId: e.callback_id, status: 200, payload } as TraceFrame
  if (e.id !== undefined) return { kind: 'request', type: e.type, action: e.type, uuid: e.id, payload } as TraceFrame
  return { kind: 'push', type: e.type, action: e.type, payload } as TraceFrame
}
