import {
  type AnyFrame, type Format, type Frame, type FrameOptions, type MessageFrame,
  Reassembler, StmpProtocolError, StreamDecoder, encodeFragmented, encodeFrame, encodeFrameInto, stmpV3,
} from '../../codec/index.js'
import type { CloseAction, MessageMeta, Wire, WireContext } from '../types.js'

/** Frames up to this size on a stream are encoded into the session's shared pool. */
const POOLED_FRAME_MAX = 4 * 1024
/** One meta object per format and latency-less response, kept (no object per message). */
const META_BINARY: MessageMeta = Object.freeze({ format: 'binary' as const })
const META_TEXT: MessageMeta = Object.freeze({ format: 'text' as const })

/**
 * STMP v3 on one connection (docs/protocol.md): the in-band handshake on streams (the upgrade is
 * the handshake on WebSocket), LENGTH-prefixed frames or one frame per WebSocket message,
 * fragmentation and reassembly (§7), Ping answered with the same id (§6: no pong kind), the
 * Close frame on streams and the WebSocket close frame in its place.
 */
export class StmpV3Wire implements Wire {
  readonly initial: 'handshake' | 'open'
  private readonly ctx: WireContext
  private readonly stream: boolean
  private readonly decoder?: StreamDecoder
  private readonly reassembler: Reassembler
  private readonly frameOptions: FrameOptions
  private readonly textOptions: FrameOptions
  private readonly binaryMessageOptions: FrameOptions
  /** The format of the last message from the peer: this side answers in it (§1). */
  private lastFormat: Format

  constructor(ctx: WireContext) {
    this.ctx = ctx
    this.stream = ctx.framing === 'stream'
    const serverLatency = ctx.options.serverLatency === true
    this.frameOptions = { format: 'binary', framing: ctx.framing, serverLatency }
    this.textOptions = { format: 'text', framing: 'websocket', serverLatency }
    this.binaryMessageOptions = { format: 'binary', framing: 'websocket', serverLatency }
    this.lastFormat = ctx.role === 'client' ? (ctx.options.format ?? 'binary') : 'binary'
    this.reassembler = new Reassembler(ctx.limits)
    // Streams start with the STMP handshake; on WebSocket the HTTP upgrade was the handshake.
    this.initial = this.stream ? 'handshake' : 'open'
    if (this.stream) {
      this.decoder = new StreamDecoder((frame, offset) => this.onFrame(frame, offset), (err) => ctx.sink.error(err), {
        ...ctx.limits,
        serverLatency,
        handshake: ctx.role === 'server' ? 'client' : 'server',
      })
    }
  }

  configure(agreed: Record<string, unknown>): void {
    if (typeof agreed.serverLatency !== 'boolean') return
    const on = agreed.serverLatency
    this.frameOptions.serverLatency = on
    this.textOptions.serverLatency = on
    this.binaryMessageOptions.serverLatency = on
    if (this.decoder) this.decoder.serverLatency = on
  }

  start(request: { url: string; headers: Record<string, string> }): void {
    if (!this.stream) return
    const frame = { kind: 'handshake-request' as const, url: request.url, headers: request.headers }
    this.trace('out', frame)
    this.ctx.out.write(stmpV3.encodeHandshakeRequest(frame))
  }

  refuse(status: number, message: string): void {
    this.answerHandshake(status, message)
  }

  receive(data: Buffer, text: boolean): void {
    if (this.decoder) {
      this.decoder.write(data)
      return
    }
    let frame: Frame
    try {
      // One options object per format, kept (decodeMessage would build two per message).
      frame = stmpV3.decodeBody(data, 0, data.length, 0, text ? this.textOptions : this.binaryMessageOptions)
    } catch (err) {
      if (err instanceof StmpProtocolError) this.ctx.sink.error(err)
      else throw err
      return
    }
    this.lastFormat = text ? 'text' : 'binary'
    this.onFrame(frame, 0)
  }

  private onFrame(frame: AnyFrame, offset: number): void {
    const sink = this.ctx.sink
    if (sink.tracing) sink.trace('in', frame)
    switch (frame.kind) {
      case 'handshake-request': {
        const decision = sink.negotiate({ url: frame.url, headers: frame.headers })
        if (decision.status !== 200) return
        this.answerHandshake(200, decision.message)
        if (decision.agreed) this.configure(decision.agreed)
        sink.opened({ url: frame.url, headers: frame.headers, contentType: decision.contentType, agreed: decision.agreed })
        return
      }
      case 'handshake-response':
        if (frame.status === 200) sink.opened({})
        else sink.refused(frame.status, frame.message)
        return
      case 'ping':
        return sink.ping(frame.id)
      case 'close':
        return sink.close(frame.status, frame.message)
      default:
        break
    }
    let message: MessageFrame | undefined
    try {
      message = this.reassembler.push(frame, offset)
    } catch (err) {
      if (err instanceof StmpProtocolError) return sink.error(err)
      throw err
    }
    if (!message) return
    const meta = this.lastFormat === 'text' ? META_TEXT : META_BINARY
    if (message.kind === 'response') {
      sink.response(message.id, message.status as number, message.payload, message.latency == null ? meta : { format: this.lastFormat, latency: message.latency })
    } else if (message.kind === 'request') sink.request(message.id, message.action as string, message.payload, meta)
    else sink.push(message.action as string, message.payload, meta)
  }

  private answerHandshake(status: number, message: string): void {
    const answer = { kind: 'handshake-response' as const, status, message }
    this.trace('out', answer)
    this.ctx.out.write(stmpV3.encodeHandshakeResponse(answer))
  }

  request(id: number, action: string, payload: Buffer, meta?: MessageMeta): void {
    this.sendMessage({ kind: 'request', id, action, payload, follow: false, fin: false }, this.format(meta))
  }

  response(id: number, status: number, payload: Buffer, meta?: MessageMeta): void {
    const latency = this.frameOptions.serverLatency ? Math.min(meta?.latency ?? 0, 0xffff) : null
    this.sendMessage({ kind: 'response', id, status, latency, payload, follow: false, fin: false }, this.format(meta))
  }

  push(id: number, action: string, payload: Buffer, meta?: MessageMeta): void {
    this.sendMessage({ kind: 'push', id, action, payload, follow: false, fin: false }, this.format(meta))
  }

  ping(id: number): void {
    this.sendFrame({ kind: 'ping', id }, this.format())
  }

  /** v3 has no pong kind: the answer is a Ping with the same id (§6). */
  pong(id: number): void {
    this.sendFrame({ kind: 'ping', id }, this.format())
  }

  close(code: number, message: string): CloseAction {
    if (!this.stream) {
      // The WebSocket close frame replaces the STMP Close frame (§6).
      this.trace('out', { kind: 'close', status: code, message })
      return 'transport'
    }
    this.sendFrame({ kind: 'close', status: code, message: truncateUtf8(message, 1024) }, 'binary')
    return 'frame'
  }

  endArgs(code: number, message: string): [number?, string?] {
    return [code, message]
  }

  reset(): void {
    this.reassembler.clear()
  }

  /** Bytes of a partial frame held (a decoder that gave up counts as holding some). */
  get buffered(): number {
    if (!this.decoder) return 0
    return this.decoder.failed ? 1 : this.decoder.buffered
  }

  skipped(bytes: number): void {
    if (this.decoder) this.decoder.offset += bytes
  }

  private format(meta?: MessageMeta): Format {
    if (this.stream) return 'binary'
    return (meta?.format as Format | undefined) ?? this.lastFormat
  }

  /** Request, Push or Response: fragmented on a stream when over fragmentSize (§7). */
  private sendMessage(frame: MessageFrame, format: Format): void {
    if (this.stream && frame.payload.length + 64 > this.ctx.fragmentSize) {
      const parts = encodeFragmented(frame, this.frameOptions, this.ctx.fragmentSize)
      if (parts.length > 1) {
        this.trace('out', frame)
        this.ctx.out.parts(parts)
        return
      }
    }
    this.sendFrame(frame, format)
  }

  private sendFrame(frame: Frame, format: Format): void {
    this.trace('out', frame)
    // Text is WebSocket only (§1): its kept options object, no spread per frame.
    const options = format === 'text' ? this.textOptions : this.stream ? this.frameOptions : this.binaryMessageOptions
    const out = this.ctx.out
    if (this.stream) {
      const body = stmpV3.bodySize(frame, options)
      const size = stmpV3.lengthSize(body) + body
      if (size <= POOLED_FRAME_MAX) {
        const pos = out.reserve(size)
        encodeFrameInto(frame, options, out.pool, pos, body)
        return
      }
    }
    out.write(encodeFrame(frame, options), format === 'text')
  }

  private trace(direction: 'in' | 'out', frame: AnyFrame): void {
    if (this.ctx.sink.tracing) this.ctx.sink.trace(direction, frame)
  }
}

function truncateUtf8(text: string, max: number): string {
  let t = text
  while (Buffer.byteLength(t) > max) t = t.slice(0, -1)
  return t
}

