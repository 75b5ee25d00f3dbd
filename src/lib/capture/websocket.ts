/**
 * HTTP/1.1 Upgrade (RFC 9110, RFC 6455 section 4) and WebSocket frames (RFC 6455 section 5) with
 * permessage-deflate (RFC 7692), decoded from the two reassembled byte streams of one TCP
 * connection. The STMP-over-WebSocket layer (wire notes section 1) sits on the messages emitted
 * here: one STMP frame per WebSocket message.
 *
 * Frames are parsed by a small state machine per direction fed chunk by chunk (the habit of ws
 * `Receiver`); a message is held only until its last frame, and never past `maxMessageBytes`.
 */
import zlib from 'node:zlib'
import { StmpError } from '../errors.js'
import { ByteQueue } from './bytes.js'
import {
  CaptureErrorCode,
  type CaptureErrorEvent, type DataEvent, type DeflateParams, type Direction, type HttpUpgradeEvent, type WsControlEvent, type WsMessageEvent, type WsUndecodableEvent,
} from './types.js'

export interface WebSocketOptions {
  /** Largest WebSocket message, joined and inflated (default 16 MiB); bigger ones are skipped with WS_TOO_LARGE. */
  maxMessageBytes?: number
  /** Largest HTTP request or response head (default 64 KiB); bigger gives HTTP_TOO_LARGE. */
  maxHttpHeaderBytes?: number
}

export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
export const DEFAULT_MAX_HTTP_HEADER_BYTES = 64 * 1024

export type WebSocketEvent = HttpUpgradeEvent | WsMessageEvent | WsControlEvent | WsUndecodableEvent | CaptureErrorEvent | DataEvent

export const WsOpcode = { CONTINUATION: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa } as const

/** RFC 7692 section 7.2.2: the sender strips these 4 bytes from every compressed message. */
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff])
/** The largest LZ77 window (2^15 bytes) a permessage-deflate message may refer back into. */
const DEFLATE_WINDOW = 32 * 1024

// ---------------------------------------------------------------------------------------------
// HTTP heads

export interface HttpHead {
  /** Request: method, target, version. Response: version, status code, reason phrase. */
  startLine: [string, string, string]
  headers: Record<string, string>
}

/** Index just past the `\r\n\r\n` that ends an HTTP head, or -1. */
export function findHeadEnd(bytes: Buffer): number {
  const at = bytes.indexOf('\r\n\r\n', 0, 'latin1')
  return at < 0 ? -1 : at + 4
}

/** Parses a head (without the final empty line); header names lower-cased, repeats joined with `, `. */
export function parseHttpHead(head: string): HttpHead | undefined {
  const lines = head.split('\r\n').filter((line) => line.length > 0)
  const first = lines.shift()
  if (first === undefined) return undefined
  const space1 = first.indexOf(' ')
  const space2 = space1 < 0 ? -1 : first.indexOf(' ', space1 + 1)
  if (space1 < 0) return undefined
  const startLine: [string, string, string] = space2 < 0
    ? [first.slice(0, space1), first.slice(space1 + 1), '']
    : [first.slice(0, space1), first.slice(space1 + 1, space2), first.slice(space2 + 1)]
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon <= 0) return undefined
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  return { startLine, headers }
}

/** `Sec-WebSocket-Extensions` as accepted by the server: the permessage-deflate entry, if any (RFC 7692 section 7.1). */
export function parseDeflateExtension(header: string | undefined): DeflateParams | null {
  if (header === undefined) return null
  for (const extension of header.split(',')) {
    const [name, ...params] = extension.split(';').map((part) => part.trim())
    if (name.toLowerCase() !== 'permessage-deflate') continue
    const deflate: DeflateParams = { clientNoContextTakeover: false, serverNoContextTakeover: false }
    for (const param of params) {
      const [key, raw] = param.split('=').map((part) => part.trim())
      const value = raw === undefined ? undefined : Number(raw.replace(/^"|"$/g, ''))
      const bits = value !== undefined && Number.isInteger(value) ? value : undefined
      switch (key.toLowerCase()) {
        case 'client_no_context_takeover': deflate.clientNoContextTakeover = true; break
        case 'server_no_context_takeover': deflate.serverNoContextTakeover = true; break
        case 'client_max_window_bits': if (bits !== undefined) deflate.clientMaxWindowBits = bits; break
        case 'server_max_window_bits': if (bits !== undefined) deflate.serverMaxWindowBits = bits; break
        default: break
      }
    }
    return deflate
  }
  return null
}

// ---------------------------------------------------------------------------------------------
// permessage-deflate

/**
 * Inflates the messages of one direction. With context takeover the sender's LZ77 window runs
 * on across messages, so each message is inflated with the last 32 KiB of the previous output as
 * the preset dictionary, which is exactly that window; without it every message starts fresh.
 */
export class MessageInflater {
  private window = Buffer.alloc(0)

  constructor(readonly contextTakeover: boolean, private readonly maxMessageBytes: number) {}

  /** Throws RangeError (ERR_BUFFER_TOO_LARGE) past maxMessageBytes, or a zlib Error for bad data. */
  inflate(compressed: Buffer): Buffer {
    const options: zlib.ZlibOptions = { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: Math.max(1, this.maxMessageBytes) }
    if (this.contextTakeover && this.window.length > 0) options.dictionary = this.window
    const output = zlib.inflateRawSync(Buffer.concat([compressed, DEFLATE_TAIL]), options)
    if (output.length > this.maxMessageBytes) {
      throw Object.assign(new RangeError('inflated message over maxMessageBytes'), { code: 'ERR_BUFFER_TOO_LARGE' })
    }
    if (this.contextTakeover) {
      const joined = this.window.length === 0 ? output : Buffer.concat([this.window, output])
      this.window = Buffer.from(joined.subarray(Math.max(0, joined.length - DEFLATE_WINDOW)))
    }
    return output
  }
}

// ---------------------------------------------------------------------------------------------
// Frames

interface FrameHeader {
  fin: boolean
  rsv1: boolean
  opcode: number
  masked: boolean
  mask: Buffer | undefined
  length: number
  headerLength: number
}

interface MessageInProgress {
  opcode: 'text' | 'binary'
  compressed: boolean
  fragments: Buffer[]
  size: number
  streamOffset: number
  frames: number
  /** Over the limit, or a frame of it lost in a gap: its remaining frames are read and dropped. */
  dropped: boolean
  /** A frame of it was lost in a gap: reported as undecodable when its last frame has gone by. */
  lost: boolean
}

export interface FrameParserOptions {
  direction: Direction
  maxMessageBytes: number
  /** Null when permessage-deflate was not negotiated (then RSV1 is a protocol error). */
  inflater: MessageInflater | null
  /** Stream offset of the first byte the parser will see (just after the HTTP head). */
  baseOffset: number
}

export interface FrameParserSink {
  message(event: Omit<WsMessageEvent, 'connId' | 'connection' | 'type' | 'direction'>): void
  control(event: Omit<WsControlEvent, 'connId' | 'connection' | 'type' | 'direction'>): void
  /** A message or control frame lost in a gap, decoding going on after it. */
  lost(event: { streamOffset: number; bytes: number; time: bigint }): void
  error(code: string, message: string, time: bigint): void
}

/** RFC 6455 section 5.2 frames of one direction, fed chunk by chunk. */
export class WebSocketFrameParser {
  private readonly queue = new ByteQueue()
  private header: FrameHeader | undefined
  private message: MessageInProgress | undefined
  /** Payload bytes of an oversized frame still to drop. */
  private skipping = 0
  private maskReported = false
  desynced = false

  constructor(private readonly options: FrameParserOptions, private readonly sink: FrameParserSink) {}

  write(bytes: Buffer, time: bigint): void {
    if (this.desynced) return
    this.queue.push(bytes)
    while (!this.desynced && this.step(time)) { /* one header or payload per step */ }
  }

  /** Stops decoding this direction. */
  desync(): void {
    this.desynced = true
  }

  private get offset(): number {
    return this.options.baseOffset + this.queue.consumed
  }

  /** Stream offset of the first byte not yet decoded: the start of the message (or frame) being read. */
  get undecodedFrom(): number {
    if (this.message !== undefined) return this.message.streamOffset
    return this.header === undefined ? this.offset : this.offset - this.header.headerLength
  }

  /**
   * A TCP gap: the next `missing` bytes of this direction were never seen. The framing is found
   * again when the gap ends inside the payload of a frame whose header came before it: the
   * header's length says where the next frame starts. That frame's message is lost (reported by
   * the sink's `lost` once its last frame has gone by; its other frames are skipped), or the
   * control frame itself. Otherwise (the gap starts at a frame boundary or inside a header, or
   * runs past the frame's end), or when the lost message was compressed with context takeover
   * (later messages refer into its bytes), nothing more of this direction is decoded. Returns
   * whether decoding goes on.
   */
  gap(missing: number, time: bigint): boolean {
    if (this.desynced) return false
    if (this.skipping > 0 && missing <= this.skipping) {
      // Inside a frame that is being skipped already (too large, or of a lost message).
      this.skipping -= missing
      this.queue.consumed += missing
      return true
    }
    const header = this.header
    if (header === undefined || missing > header.length - this.queue.length) {
      this.desynced = true
      return false
    }
    const frameOffset = this.offset - header.headerLength
    const frameEnd = this.offset + header.length
    if (header.opcode >= WsOpcode.CLOSE) {
      this.sink.lost({ streamOffset: frameOffset, bytes: frameEnd - frameOffset, time })
    } else {
      const message = this.message as MessageInProgress
      if (message.compressed && this.inflaterKeepsContext()) {
        this.desynced = true
        return false
      }
      message.dropped = true
      message.lost = true
      message.fragments = []
      if (header.fin) this.endLost(message, frameEnd, time)
    }
    this.header = undefined
    this.skipping = header.length - this.queue.length - missing
    this.queue.skip(this.queue.length)
    this.queue.consumed += missing
    return true
  }

  /** A message that lost a frame in a gap has ended (at stream offset `end`): report it. */
  private endLost(message: MessageInProgress, end: number, time: bigint): void {
    this.message = undefined
    this.sink.lost({ streamOffset: message.streamOffset, bytes: end - message.streamOffset, time })
  }

  private step(time: bigint): boolean {
    if (this.skipping > 0) {
      const n = Math.min(this.skipping, this.queue.length)
      this.queue.skip(n)
      this.skipping -= n
      return this.skipping === 0 && this.queue.length > 0
    }
    if (this.header === undefined) return this.readHeader(time)
    if (this.queue.length < this.header.length) return false
    const header = this.header
    this.header = undefined
    const frameOffset = this.offset - header.headerLength
    const payload = unmask(this.queue.take(header.length), header.mask)
    if (header.opcode >= WsOpcode.CLOSE) this.control(header, payload, frameOffset, time)
    else this.data(header, payload, time)
    return true
  }

  private readHeader(time: bigint): boolean {
    if (this.queue.length < 2) return false
    const first = this.queue.peek(2)
    const masked = (first[1] & 0x80) !== 0
    const length7 = first[1] & 0x7f
    const headerLength = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (masked ? 4 : 0)
    if (this.queue.length < headerLength) return false
    const bytes = this.queue.peek(headerLength)
    let length = length7
    if (length7 === 126) length = bytes.readUInt16BE(2)
    if (length7 === 127) {
      const big = bytes.readBigUInt64BE(2)
      // RFC 6455 5.2: the most significant bit must be 0; beyond 2^53 is no real message either.
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) return this.protocolError(`64-bit payload length ${big} is too large`, time)
      length = Number(big)
    }
    const header: FrameHeader = {
      fin: (bytes[0] & 0x80) !== 0, rsv1: (bytes[0] & 0x40) !== 0, opcode: bytes[0] & 0x0f, masked,
      mask: masked ? Buffer.from(bytes.subarray(headerLength - 4, headerLength)) : undefined, length, headerLength,
    }
    const problem = this.check(header, bytes[0])
    if (problem !== undefined) return this.protocolError(problem, time)
    this.checkMask(header, time)
    this.queue.skip(headerLength)
    if (header.opcode < WsOpcode.CLOSE && !this.admit(header, time)) {
      this.skipping = length
      return true
    }
    this.header = header
    return true
  }

  /** RFC 6455 5.2, 5.4, 5.5 and RFC 7692 6: what a frame header may not be. */
  private check(header: FrameHeader, byte0: number): string | undefined {
    if ((byte0 & 0x30) !== 0) return 'RSV2 or RSV3 is set'
    const { opcode } = header
    if (opcode >= WsOpcode.CLOSE) {
      if (opcode > WsOpcode.PONG) return `reserved control opcode 0x${opcode.toString(16)}`
      if (!header.fin) return 'a fragmented control frame'
      if (header.length > 125) return `a control frame of ${header.length} bytes (limit 125)`
      if (header.rsv1) return 'RSV1 set on a control frame'
      return undefined
    }
    if (opcode > WsOpcode.BINARY) return `reserved data opcode 0x${opcode.toString(16)}`
    if (opcode === WsOpcode.CONTINUATION) {
      if (this.message === undefined) return 'a continuation frame with no message to continue'
      if (header.rsv1) return 'RSV1 set on a continuation frame'
      return undefined
    }
    if (this.message !== undefined) return 'a new data frame before the previous message ended'
    if (header.rsv1 && this.options.inflater === null) return 'RSV1 set without permessage-deflate'
    return undefined
  }

  /** Client frames must be masked, server frames must not (RFC 6455 5.1); decoding goes on. */
  private checkMask(header: FrameHeader, time: bigint): void {
    const shouldMask = this.options.direction === 'client'
    if (header.masked === shouldMask || this.maskReported) return
    this.maskReported = true
    this.sink.error(CaptureErrorCode.WS_PROTOCOL, `${this.options.direction} frame at byte ${this.offset} is ${header.masked ? '' : 'not '}masked`, time)
  }

  /** Starts or extends the message of a data frame; false when the frame is to be dropped. */
  private admit(header: FrameHeader, time: bigint): boolean {
    const frameOffset = this.offset - header.headerLength
    if (header.opcode !== WsOpcode.CONTINUATION) {
      this.message = {
        opcode: header.opcode === WsOpcode.TEXT ? 'text' : 'binary', compressed: header.rsv1, fragments: [], size: 0,
        streamOffset: frameOffset, frames: 0, dropped: false, lost: false,
      }
    }
    const message = this.message as MessageInProgress
    message.frames++
    if (!message.dropped && message.size + header.length > this.options.maxMessageBytes) {
      message.dropped = true
      message.fragments = []
      this.tooLarge(message, time)
    }
    if (message.dropped && header.fin) {
      if (message.lost) this.endLost(message, this.offset + header.length, time)
      else this.message = undefined
    }
    return !message.dropped
  }

  /**
   * A skipped compressed message with context takeover leaves the inflater without the window
   * later messages refer into; inflating them anyway could give wrong bytes, so stop there.
   */
  private tooLarge(message: MessageInProgress, time: bigint): void {
    const spoilsContext = message.compressed && this.inflaterKeepsContext()
    this.sink.error(CaptureErrorCode.WS_TOO_LARGE,
      `${this.options.direction} WebSocket message at byte ${message.streamOffset} is over ${this.options.maxMessageBytes} bytes (maxMessageBytes); it is skipped${spoilsContext ? ', and later compressed messages cannot be inflated' : ''}`,
      time)
    if (spoilsContext) this.desynced = true
  }

  private inflaterKeepsContext(): boolean {
    return this.options.inflater !== null && this.options.inflater.contextTakeover
  }

  private data(header: FrameHeader, payload: Buffer, time: bigint): void {
    const message = this.message as MessageInProgress
    message.fragments.push(payload)
    message.size += payload.length
    if (!header.fin) return
    this.message = undefined
    let joined = message.fragments.length === 1 ? message.fragments[0] : Buffer.concat(message.fragments)
    if (message.compressed) {
      const inflated = this.inflate(message, joined, time)
      if (inflated === undefined) return
      joined = inflated
    }
    this.sink.message({ time, opcode: message.opcode, payload: joined, compressed: message.compressed, streamOffset: message.streamOffset, frames: message.frames })
  }

  private inflate(message: MessageInProgress, compressed: Buffer, time: bigint): Buffer | undefined {
    try {
      return (this.options.inflater as MessageInflater).inflate(compressed)
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        this.tooLarge(message, time)
      } else {
        // A broken deflate stream with context takeover spoils every later message too.
        this.sink.error(CaptureErrorCode.WS_INFLATE,
          `${this.options.direction} WebSocket message at byte ${message.streamOffset} does not inflate: ${(err as Error).message}`,
          time)
        if (this.inflaterKeepsContext()) this.desynced = true
      }
      return undefined
    }
  }

  private control(header: FrameHeader, payload: Buffer, frameOffset: number, time: bigint): void {
    const opcode = header.opcode === WsOpcode.CLOSE ? 'close' : header.opcode === WsOpcode.PING ? 'ping' : 'pong'
    const event: Parameters<FrameParserSink['control']>[0] = { time, opcode, payload, streamOffset: frameOffset }
    if (opcode === 'close') {
      // RFC 6455 5.5.1: empty, or a 2-byte status code followed by a UTF-8 reason.
      if (payload.length === 1) {
        this.protocolError(`close frame at byte ${frameOffset} has a 1-byte payload`, time)
        return
      }
      if (payload.length >= 2) {
        event.code = payload.readUInt16BE(0)
        event.reason = payload.subarray(2).toString('utf8')
      }
    }
    this.sink.control(event)
  }

  private protocolError(problem: string, time: bigint): false {
    this.desynced = true
    this.sink.error(CaptureErrorCode.WS_PROTOCOL, `${this.options.direction} WebSocket frame at byte ${this.offset}: ${problem}`, time)
    return false
  }
}

function unmask(payload: Buffer, mask: Buffer | undefined): Buffer {
  if (mask === undefined || payload.length === 0) return payload
  const out = Buffer.allocUnsafe(payload.length)
  for (let i = 0; i < payload.length; i++) out[i] = payload[i] ^ mask[i & 3]
  return out
}

// ---------------------------------------------------------------------------------------------
// One connection: HTTP request, response, then frames both ways

type SessionState = 'request' | 'response' | 'websocket' | 'raw'

interface HeldBytes {
  bytes: Buffer
  time: bigint
  streamOffset: number
}

export interface WebSocketSessionIdentity {
  connId: number
  connection: string
}

/**
 * Decodes one connection whose client began with `GET `: the upgrade request, the answer, then
 * WebSocket frames both ways. A request that is not a WebSocket upgrade makes the whole
 * connection plain `data` events from offset 0 (no `http-upgrade`); a refused upgrade gives the
 * `http-upgrade` event (with the status) and then the bytes after the two heads (the refusal
 * body) as `data` events.
 */
export class WebSocketSession {
  private state: SessionState = 'request'
  private readonly held: Record<Direction, HeldBytes[]> = { client: [], server: [] }
  private readonly heldBytes: Record<Direction, number> = { client: 0, server: 0 }
  /** Stream offset just past the last byte pushed (or missing in a gap), per direction. */
  private readonly received: Record<Direction, number> = { client: 0, server: 0 }
  /** After a gap the framing could not cross: the first stream offset not decoded, per direction; -1 before. */
  private readonly lostFrom: Record<Direction, number> = { client: -1, server: -1 }
  private request: HttpHead | undefined
  private readonly parsers: Partial<Record<Direction, WebSocketFrameParser>> = {}
  private readonly maxMessageBytes: number
  private readonly maxHttpHeaderBytes: number
  private upgradeReported = false

  constructor(private readonly identity: WebSocketSessionIdentity, private readonly emit: (event: WebSocketEvent) => void, options: WebSocketOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    this.maxHttpHeaderBytes = options.maxHttpHeaderBytes ?? DEFAULT_MAX_HTTP_HEADER_BYTES
  }

  get isWebSocket(): boolean {
    return this.state === 'websocket'
  }

  push(direction: Direction, bytes: Buffer, time: bigint, streamOffset: number): void {
    this.received[direction] = streamOffset + bytes.length
    if (this.state === 'raw') return this.raw(direction, bytes, time, streamOffset)
    if (this.state === 'websocket') return this.parsers[direction]?.write(bytes, time)
    this.held[direction].push({ bytes, time, streamOffset })
    this.heldBytes[direction] += bytes.length
    // Client frames sent before the server's answer wait here; bound them like one message.
    if (this.heldBytes[direction] > this.maxHttpHeaderBytes + this.maxMessageBytes) {
      this.error(CaptureErrorCode.HTTP_TOO_LARGE, `${direction} sent more than ${this.maxHttpHeaderBytes + this.maxMessageBytes} bytes before the upgrade completed (maxHttpHeaderBytes + maxMessageBytes)`, time, direction)
      return this.toRaw()
    }
    this.advance(time)
  }

  /**
   * A TCP gap of `missing` bytes in one direction. In the frames: the parser resumes after the
   * frame the gap fell in where it can (see WebSocketFrameParser#gap), else the rest of the
   * direction is reported as undecodable when the connection ends.
   */
  gap(direction: Direction, missing: number, time: bigint): void {
    if (this.state === 'raw') return
    if (this.state === 'websocket') {
      this.received[direction] += missing
      const parser = this.parsers[direction]
      // A direction stopped already (a framing error, a message that cannot be inflated) was reported then.
      if (parser === undefined || parser.desynced) return
      const from = parser.undecodedFrom
      if (!parser.gap(missing, time)) this.lostFrom[direction] = from
      return
    }
    this.error(CaptureErrorCode.WS_GAP, `${direction} stream has a gap inside the HTTP upgrade; the connection is shown as raw bytes`, time, direction)
    this.toRaw()
  }

  /**
   * The connection closed, or (`captureEnd`) the capture ended while it was open: then a message
   * (or frame) it cut is reported as `ws-undecodable` with `lost: 'end'`, a gap at the end of the
   * capture rather than an error.
   */
  end(time: bigint, captureEnd = false): void {
    for (const direction of ['client', 'server'] as const) {
      const from = this.lostFrom[direction]
      if (from < 0) {
        const parser = this.parsers[direction]
        if (!captureEnd || this.state !== 'websocket' || parser === undefined || parser.desynced) continue
        const cut = parser.undecodedFrom
        if (this.received[direction] > cut) {
          this.emit({ type: 'ws-undecodable', ...this.identity, direction, time, streamOffset: cut, bytes: this.received[direction] - cut, lost: 'end' })
        }
        continue
      }
      this.lostFrom[direction] = -1
      this.emit({ type: 'ws-undecodable', ...this.identity, direction, time, streamOffset: from, bytes: this.received[direction] - from })
    }
    if (this.state === 'response' && this.request !== undefined) {
      this.reportUpgrade(this.request, undefined, time)
      this.toRaw()
    } else if (this.state === 'request') {
      this.toRaw()
    }
  }

  private advance(time: bigint): void {
    if (this.state === 'request') {
      const found = this.findHead('client', time)
      if (found === undefined) return
      const upgrade = (found.head.headers.upgrade ?? '').toLowerCase().split(',').map((s) => s.trim())
      // A plain HTTP request is not ours to decode: the whole connection is raw bytes from offset 0.
      if (found.head.startLine[0] !== 'GET' || !upgrade.includes('websocket')) return this.toRaw()
      this.request = found.head
      this.dropHead('client', found, time)
      this.state = 'response'
    }
    if (this.state === 'response') {
      const found = this.findHead('server', time)
      if (found === undefined) return
      this.dropHead('server', found, time)
      const response = found.head
      const websocket = response.startLine[1] === '101'
      this.reportUpgrade(this.request as HttpHead, response, time)
      if (!websocket) return this.toRaw()
      this.startFrames(response)
    }
  }

  /** The HTTP head at the start of the held bytes of one direction, or undefined if not all there yet. */
  private findHead(direction: Direction, time: bigint): { head: HttpHead, joined: Buffer, end: number } | undefined {
    const held = this.held[direction]
    if (held.length === 0) return undefined
    const joined = held.length === 1 ? held[0].bytes : Buffer.concat(held.map((h) => h.bytes))
    const end = findHeadEnd(joined)
    if (end < 0) {
      if (joined.length > this.maxHttpHeaderBytes) {
        this.error(CaptureErrorCode.HTTP_TOO_LARGE, `${direction} HTTP head is longer than ${this.maxHttpHeaderBytes} bytes (maxHttpHeaderBytes)`, time, direction)
        this.toRaw()
      }
      return undefined
    }
    const head = parseHttpHead(joined.subarray(0, end - 4).toString('latin1'))
    if (head === undefined) {
      this.error(CaptureErrorCode.BAD_HTTP, `${direction} HTTP head cannot be parsed`, time, direction)
      this.toRaw()
      return undefined
    }
    return { head, joined, end }
  }

  /** Removes a found head from the held bytes; what follows it stays held. */
  private dropHead(direction: Direction, found: { joined: Buffer, end: number }, time: bigint): void {
    const { joined, end } = found
    const startOffset = this.held[direction][0].streamOffset
    this.held[direction] = end < joined.length ? [{ bytes: joined.subarray(end), time, streamOffset: startOffset + end }] : []
    this.heldBytes[direction] = joined.length - end
  }

  private reportUpgrade(request: HttpHead, response: HttpHead | undefined, time: bigint): void {
    if (this.upgradeReported) return
    this.upgradeReported = true
    const websocket = response?.startLine[1] === '101'
    this.emit({
      type: 'http-upgrade', ...this.identity, time,
      method: request.startLine[0], url: request.startLine[1], requestHeaders: request.headers,
      status: response === undefined ? 0 : Number(response.startLine[1]) || 0,
      statusText: response?.startLine[2] ?? '', responseHeaders: response?.headers ?? {},
      websocket, deflate: websocket ? parseDeflateExtension(response?.headers['sec-websocket-extensions']) : null,
    })
  }

  private startFrames(response: HttpHead): void {
    this.state = 'websocket'
    const deflate = parseDeflateExtension(response.headers['sec-websocket-extensions'])
    for (const direction of ['client', 'server'] as const) {
      const baseOffset = this.received[direction] - this.heldBytes[direction]
      const noTakeover = direction === 'client' ? deflate?.clientNoContextTakeover : deflate?.serverNoContextTakeover
      const inflater = deflate === null ? null : new MessageInflater(!noTakeover, this.maxMessageBytes)
      this.parsers[direction] = new WebSocketFrameParser(
        { direction, maxMessageBytes: this.maxMessageBytes, inflater, baseOffset },
        this.sinkFor(direction),
      )
    }
    for (const direction of ['client', 'server'] as const) {
      const held = this.held[direction]
      this.held[direction] = []
      for (const each of held) this.parsers[direction]?.write(each.bytes, each.time)
    }
  }

  private sinkFor(direction: Direction): FrameParserSink {
    return {
      message: (event) => this.emit({ type: 'ws-message', ...this.identity, direction, ...event }),
      control: (event) => this.emit({ type: 'ws-control', ...this.identity, direction, ...event }),
      lost: (event) => this.emit({ type: 'ws-undecodable', ...this.identity, direction, ...event, lost: 'frame' }),
      error: (code, message, time) => this.error(code, message, time, direction),
    }
  }

  private toRaw(): void {
    this.state = 'raw'
    for (const direction of ['client', 'server'] as const) {
      const held = this.held[direction]
      this.held[direction] = []
      this.heldBytes[direction] = 0
      for (const each of held) this.raw(direction, each.bytes, each.time, each.streamOffset)
    }
  }

  private raw(direction: Direction, bytes: Buffer, time: bigint, streamOffset: number): void {
    this.emit({ type: 'data', ...this.identity, direction, time, bytes, streamOffset })
  }

  private error(code: string, message: string, time: bigint, direction: Direction): void {
    const error = new StmpError(code, `${this.identity.connection}: ${message}`)
    this.emit({ type: 'error', error, code, fatal: false, ...this.identity, direction, time })
  }
}
