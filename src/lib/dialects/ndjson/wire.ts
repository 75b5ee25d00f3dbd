import type { CloseAction, MessageMeta, TraceFrame, Wire, WireContext } from '../types.js'
import { LineSplitter } from '../../codec/lines.js'
import { type NdjsonMessage, decodeMessage, encodeMessage } from './codec.js'

/**
 * The ndjson dialect on one connection: no negotiation (open at once), one JSON line per
 * message; ids are the session's. The whole dialect is this folder.
 */
export class NdjsonWire implements Wire {
  readonly initial = 'open' as const
  private readonly lines?: LineSplitter
  private readonly stream: boolean

  constructor(private readonly ctx: WireContext) {
    this.stream = ctx.framing === 'stream'
    if (this.stream) this.lines = new LineSplitter(ctx.limits.maxFrameSize, (line, offset) => this.onLine(line, offset))
  }

  start(): void {}

  refuse(): void {}

  receive(data: Buffer): void {
    try {
      if (this.lines) this.lines.write(data)
      else this.onLine(data, 0)
    } catch (err) {
      if (err instanceof Error && 'closeMessage' in err) this.ctx.sink.error(err as Parameters<WireContext['sink']['error']>[0])
      else throw err
    }
  }

  private onLine(line: Buffer, offset: number): void {
    const m = decodeMessage(line, offset)
    const sink = this.ctx.sink
    if (sink.tracing) sink.trace('in', traceOf(m))
    switch (m.kind) {
      case 'request': return sink.request(m.id, m.action, m.payload)
      case 'response': return sink.response(m.id, m.status, m.payload)
      case 'push': return sink.push(m.action, m.payload)
      case 'ping': return sink.ping(m.id)
      case 'pong': return sink.pong(m.id)
      case 'close': return sink.close(m.status, m.message)
    }
  }

  private send(m: NdjsonMessage): void {
    if (this.ctx.sink.tracing) this.ctx.sink.trace('out', traceOf(m))
    this.ctx.out.write(encodeMessage(m, this.stream ? '\n' : ''), !this.stream)
  }

  request(id: number, action: string, payload: Buffer): void {
    this.send({ kind: 'request', id, action, payload })
  }

  response(id: number, status: number, payload: Buffer, _meta?: MessageMeta): void {
    this.send({ kind: 'response', id, status, payload })
  }

  push(_id: number, action: string, payload: Buffer): void {
    this.send({ kind: 'push', action, payload })
  }

  ping(id: number): void {
    this.send({ kind: 'ping', id })
  }

  pong(id: number): void {
    this.send({ kind: 'pong', id })
  }

  close(code: number, message: string): CloseAction {
    this.send({ kind: 'close', status: code, message })
    return 'frame'
  }

  endArgs(code: number, message: string): [number?, string?] {
    if (this.stream) return []
    const valid = code >= 1000 && code < 5000 && code !== 1005 && code !== 1006
    return [valid ? code : 1000, message]
  }

  reset(): void {}
}

/** A message as traces and decode show it: STMP v3's field names where they mean the same. */
export function traceOf(m: NdjsonMessage): TraceFrame {
  switch (m.kind) {
    case 'request':
    case 'push':
      return { kind: m.kind, id: m.kind === 'request' ? m.id : 0, action: m.action, payload: m.payload, follow: false, fin: false } as TraceFrame
    case 'response':
      return { kind: 'response', id: m.id, status: m.status, latency: null, payload: m.payload, follow: false, fin: false } as TraceFrame
    case 'close':
      return { kind: 'close', status: m.status, message: m.message } as TraceFrame
    default:
      return { kind: m.kind, id: m.id } as TraceFrame
  }
}
