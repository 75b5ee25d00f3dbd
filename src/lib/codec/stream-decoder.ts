import { newFrameHead, type FrameHead, type MessageHeadBits } from './binary.js'
import { stmpV3, type WireDialect } from './dialect.js'
import { StmpProtocolError } from './errors.js'
import type { AnyFrame, FrameOptions, Kind, Limits } from './types.js'
import { DEFAULT_LIMITS, KIND_CODE, KIND_BY_CODE } from './types.js'
import { LENGTH_INCOMPLETE, LENGTH_INVALID } from './varint.js'

/**
 * The streaming decoder for stream transports (tcp, tls, unix): bytes in, frames out, no I/O.
 * Live sessions and `decode` (hex dumps, pcap reassembly) feed the very same code.
 *
 * Fed chunks of any size (one byte at a time included). Where a frame lies inside one chunk the
 * emitted frame's payload is a view into that chunk; only a frame that spans chunks is copied
 * once into a buffer of its exact size. It keeps references to the caller's chunks while a
 * frame is incomplete, so callers must not reuse a chunk's memory after writing it (sockets
 * never do).
 */

export interface StreamDecoderOptions extends Partial<Limits> {
  serverLatency?: boolean
  /** The stream starts with a handshake frame from this side (wire notes §8). */
  handshake?: 'none' | 'client' | 'server'
  /**
   * Go on after a protocol error wherever LENGTH allows (`decode`). A live session stops at the
   * first error (it closes with 1002/1009), which is the default.
   */
  continueAfterError?: boolean
  dialect?: WireDialect
  /**
   * Offered each Request, Push and Response frame before a Frame object is made for it; returning
   * true takes it (no Frame, no onFrame call). See HeadHandler.
   */
  onHead?: HeadHandler
}

/** Called for each frame with the offset of its LENGTH byte and its size including LENGTH. */
export type FrameHandler = (frame: AnyFrame, offset: number, length: number) => void
export type ProtocolErrorHandler = (error: StmpProtocolError) => void
/**
 * A Request, Push or Response frame as a FrameHead over `buf` (offset and size as for
 * FrameHandler). The head and the bytes are only valid during the call (the head is reused for the
 * next frame). Returns whether it took the frame; false: onFrame gets it as a Frame.
 */
export type HeadHandler = (head: FrameHead, buf: Buffer, offset: number, length: number) => boolean

/** A frame lost to a gap in the stream, found again by its LENGTH (StreamDecoder#gap). */
export interface LostFrame {
  /** Stream offset of the frame's LENGTH byte. */
  offset: number
  /** Just past the frame's last byte: where decoding resumes. */
  end: number
  /** Its kind, id and fragment bits when it was a Request, Push or Response. */
  message?: MessageHeadBits
  /** A frame over maxFrameSize that was being skipped (already reported TOO_LARGE): nothing more is lost. */
  tooLarge?: boolean
}

export class StreamDecoder {
  /** Bytes consumed so far: the stream offset of the next chunk's first byte. */
  offset = 0
  /** Set after a protocol error when not continuing, or after BAD_LENGTH (no way to resync). */
  failed = false

  private readonly frameOptions: FrameOptions
  private readonly limits: Limits
  private readonly dialect: WireDialect
  private readonly continueAfterError: boolean
  private handshake: 'none' | 'client' | 'server'
  private readonly lengthOut = { size: 0 }
  private readonly head = newFrameHead()
  private readonly onHead: HeadHandler | undefined

  /** Chunks held while a frame is incomplete, and where the first of them starts. */
  private pending: Buffer[] = []
  private pendingLength = 0
  private pendingStart = 0
  /** Size of the incomplete frame including LENGTH, or -1 while its LENGTH is incomplete. */
  private needed = -1
  /** Bytes left of an oversized frame being skipped without buffering (TOO_LARGE). */
  private skipping = 0
  private skipStart = 0

  /** Open fragmented messages: key (kind << 16 | id) -> payload bytes so far (wire notes §7). */
  private readonly open = new Map<number, number>()
  /** Fragmented messages that lost a frame to a gap (see gap): their continuations are no protocol error. */
  private readonly lost = new Set<number>()
  /**
   * Whether the fragment being handed out (to onFrame or onHead) belongs to a message that lost a
   * frame to a gap: a caller joining fragments must not join it. Set for every fragment.
   */
  fragmentOfLostMessage = false

  constructor(
    private readonly onFrame: FrameHandler,
    private readonly onError: ProtocolErrorHandler,
    options: StreamDecoderOptions = {},
  ) {
    this.frameOptions = { format: 'binary', framing: 'stream', serverLatency: options.serverLatency ?? false }
    this.limits = {
      maxFrameSize: options.maxFrameSize ?? DEFAULT_LIMITS.maxFrameSize,
      maxMessageSize: options.maxMessageSize ?? DEFAULT_LIMITS.maxMessageSize,
      maxOpenMessages: options.maxOpenMessages ?? DEFAULT_LIMITS.maxOpenMessages,
    }
    this.dialect = options.dialect ?? stmpV3
    this.continueAfterError = options.continueAfterError ?? false
    this.handshake = options.handshake ?? 'none'
    this.onHead = options.onHead
  }

  /** The handshake decides it for a live session; `decode` takes it from a flag. */
  set serverLatency(value: boolean) {
    this.frameOptions.serverLatency = value
  }

  get serverLatency(): boolean {
    return this.frameOptions.serverLatency
  }

  /** Stream offset of the first byte not yet decoded into a frame: the start of the frame being read, if any. */
  get frameStart(): number {
    if (this.skipping > 0) return this.skipStart
    return this.pendingLength > 0 ? this.pendingStart : this.offset
  }

  /** Whether bytes of an unfinished frame are held. */
  get buffered(): number {
    return this.pendingLength + this.skipping
  }

  write(chunk: Buffer): void {
    if (this.failed) {
      this.offset += chunk.length
      return
    }
    let base = this.offset
    this.offset += chunk.length
    let pos = 0
    if (this.skipping > 0) {
      pos = Math.min(this.skipping, chunk.length)
      this.skipping -= pos
      if (pos === chunk.length) return
    }
    if (this.pendingLength > 0) {
      if (this.needed < 0) {
        // LENGTH itself was split: join the few held bytes with this chunk and parse afresh.
        this.pending.push(pos === 0 ? chunk : chunk.subarray(pos))
        chunk = Buffer.concat(this.pending, this.pendingLength + chunk.length - pos)
        base = this.pendingStart
        pos = 0
        this.clearPending()
      } else {
        const missing = this.needed - this.pendingLength
        if (chunk.length - pos < missing) {
          this.pending.push(pos === 0 ? chunk : chunk.subarray(pos))
          this.pendingLength += chunk.length - pos
          return
        }
        this.pending.push(chunk.subarray(pos, pos + missing))
        const frame = Buffer.concat(this.pending, this.needed)
        const start = this.pendingStart
        this.clearPending()
        this.decodeFrame(frame, 0, frame.length, start)
        pos += missing
        if (this.failed) return
      }
    }
    this.parse(chunk, pos, base)
  }

  /**
   * The next `missing` bytes of the stream were never seen (a gap in a capture). LENGTH framing
   * has no marker to find a frame by, so decoding can resume only where the gap ends inside the
   * frame being read and that frame's LENGTH and first 3 bytes (head and id) came before the gap:
   * the frame is lost, and decoding resumes at its end, which its LENGTH gives. Returns that
   * frame. Otherwise (the gap starts at a frame boundary, cuts a LENGTH or a head, runs past the
   * frame's end, or the frame is a handshake, whose options the rest depends on) the next
   * boundary cannot be known: returns undefined, and the decoder takes no more input (`failed`).
   *
   * A fragmented message that loses a frame is no protocol error: its other frames are decoded as
   * usual, continuations of a message whose first frame was lost included.
   */
  gap(missing: number): LostFrame | undefined {
    this.offset += missing
    if (this.failed || missing <= 0) return undefined
    if (this.skipping > 0) {
      if (missing > this.skipping) return this.lose()
      this.skipping -= missing
      return { offset: this.skipStart, end: this.offset + this.skipping, tooLarge: true }
    }
    const remaining = this.needed - this.pendingLength
    if (this.pendingLength === 0 || this.needed < 0 || missing > remaining || this.handshake !== 'none') return this.lose()
    const first = Buffer.concat(this.pending, Math.min(this.pendingLength, 8))
    const lengthSize = this.dialect.readLength(first, 0, first.length, this.lengthOut) < 0 ? 0 : this.lengthOut.size
    if (first.length < lengthSize + 3) return this.lose()
    const message = this.dialect.peekMessageHead(first, lengthSize, first.length)
    const frame: LostFrame = { offset: this.pendingStart, end: this.pendingStart + this.needed, message }
    if (message !== undefined && (message.follow || message.fin) && !this.loseFragment(message)) return this.lose()
    this.clearPending()
    this.skipping = remaining - missing
    this.skipStart = frame.offset
    return frame
  }

  private lose(): undefined {
    this.failed = true
    this.clearPending()
    this.skipping = 0
    return undefined
  }

  /**
   * A frame of a fragmented message was lost: the message is no longer open, but its frames may
   * follow. False when maxOpenMessages such messages are being followed already.
   */
  private loseFragment(message: MessageHeadBits): boolean {
    const key = (KIND_CODE[message.kind] << 16) | message.id
    this.open.delete(key)
    // The last frame (FOLLOW, no FIN) ends the message; any other leaves continuations to come.
    if (message.follow && !message.fin) this.lost.delete(key)
    else if (this.lost.has(key)) return true
    else if (this.lost.size >= this.limits.maxOpenMessages) return false
    else this.lost.add(key)
    return true
  }

  /** The input is over: an unfinished frame is TRUNCATED. */
  end(): void {
    if (this.failed) return
    if (this.pendingLength > 0 || this.skipping > 0) {
      const start = this.skipping > 0 ? this.skipStart : this.pendingStart
      this.clearPending()
      this.skipping = 0
      this.fail(new StmpProtocolError('TRUNCATED', 'the input ends inside a frame', start))
    }
  }

  /**
   * The input stops here without having ended (a capture that stops, where the peer did not): an
   * unfinished frame is dropped without an error and returned: where it starts, how many of its
   * bytes were held, its end by its LENGTH (-1 when LENGTH itself was cut) and its head when the
   * head was in. A frame being skipped as TOO_LARGE was reported already: undefined.
   */
  cut(): { offset: number; held: number; end: number; message?: MessageHeadBits } | undefined {
    if (this.failed || this.pendingLength === 0) {
      this.skipping = 0
      return undefined
    }
    const first = Buffer.concat(this.pending, Math.min(this.pendingLength, 8))
    const lengthSize = this.dialect.readLength(first, 0, first.length, this.lengthOut) < 0 ? -1 : this.lengthOut.size
    const cut = {
      offset: this.pendingStart, held: this.pendingLength, end: this.needed < 0 ? -1 : this.pendingStart + this.needed,
      message: lengthSize < 0 || this.handshake !== 'none' ? undefined : this.dialect.peekMessageHead(first, lengthSize, first.length),
    }
    this.clearPending()
    return cut
  }

  /** Fragmented messages still open (their continuation frames have not all arrived). */
  get openMessages(): number {
    return this.open.size
  }

  private clearPending(): void {
    this.pending = []
    this.pendingLength = 0
    this.needed = -1
  }

  private parse(chunk: Buffer, pos: number, base: number): void {
    const end = chunk.length
    const out = this.lengthOut
    while (pos < end) {
      const length = this.dialect.readLength(chunk, pos, end, out)
      if (length === LENGTH_INCOMPLETE) {
        this.hold(chunk, pos, base + pos, -1)
        return
      }
      if (length === LENGTH_INVALID) {
        // No way to find the next frame boundary: the rest of the stream is undecodable.
        this.fail(new StmpProtocolError('BAD_LENGTH', 'LENGTH needs a fifth byte', base + pos), true)
        return
      }
      const total = out.size + length
      if (length > this.limits.maxFrameSize) {
        this.tooLarge(chunk, pos, out.size, length, base + pos)
        if (this.failed) return
        const available = end - pos
        if (available < total) {
          this.skipping = total - available
          this.skipStart = base + pos
          return
        }
        pos += total
        continue
      }
      if (end - pos < total) {
        this.hold(chunk, pos, base + pos, total)
        return
      }
      this.decodeFrame(chunk, pos, pos + total, base + pos, out.size)
      if (this.failed) return
      pos += total
    }
  }

  private hold(chunk: Buffer, pos: number, start: number, needed: number): void {
    this.pending.push(pos === 0 ? chunk : chunk.subarray(pos))
    this.pendingLength = chunk.length - pos
    this.pendingStart = start
    this.needed = needed
  }

  /** Decodes the frame in buf[start, end) that starts at stream offset `offset`. */
  private decodeFrame(buf: Buffer, start: number, end: number, offset: number, lengthSize = -1): void {
    if (lengthSize < 0) {
      this.dialect.readLength(buf, start, end, this.lengthOut)
      lengthSize = this.lengthOut.size
    }
    const bodyStart = start + lengthSize
    const head = this.head
    let frame: AnyFrame | undefined
    try {
      if (this.handshake !== 'none') {
        frame = this.handshake === 'client'
          ? this.dialect.decodeHandshakeRequest(buf, bodyStart, end, offset)
          : this.dialect.decodeHandshakeResponse(buf, bodyStart, end, offset)
        this.handshake = 'none'
      } else {
        this.dialect.decodeHead(buf, bodyStart, end, offset, this.frameOptions, head)
        const message = head.kind !== 'ping' && head.kind !== 'close'
        if (message && (head.follow || head.fin)) this.trackFragment(head, offset)
        if (!message || this.onHead === undefined) frame = this.dialect.frameFromHead(head, buf, offset)
      }
    } catch (err) {
      if (!(err instanceof StmpProtocolError)) throw err
      this.fail(err)
      return
    }
    if (frame === undefined) {
      // A message frame offered to onHead first: only a Close's message can fail in frameFromHead.
      if ((this.onHead as HeadHandler)(head, buf, offset, end - start)) return
      frame = this.dialect.frameFromHead(head, buf, offset)
    }
    this.onFrame(frame, offset, end - start)
  }

  /** Enforces wire notes §7 (continuations need an open message) and the message limits. */
  private trackFragment(head: FrameHead, offset: number): void {
    const { kind, id } = head
    const key = (KIND_CODE[kind] << 16) | id
    const size = this.open.get(key)
    const length = head.payloadEnd - head.payloadStart
    this.fragmentOfLostMessage = false
    if (this.lost.size > 0 && this.lost.has(key)) {
      // A message that lost a frame to a gap: its continuations are taken as they come; a new first frame starts afresh.
      if (head.follow) {
        if (!head.fin) this.lost.delete(key)
        this.fragmentOfLostMessage = true
        return
      }
      this.lost.delete(key)
    }
    if (!head.follow) {
      if (size !== undefined) {
        throw new StmpProtocolError('BAD_FRAGMENT', `${kind} ${id} starts again while its fragments are open`, offset, { kind, messageId: id })
      }
      if (this.open.size >= this.limits.maxOpenMessages) {
        throw new StmpProtocolError('TOO_LARGE', `more than ${this.limits.maxOpenMessages} fragmented messages open`, offset, { kind, messageId: id, closeCode: 1008 })
      }
      this.checkMessageSize(kind, id, length, offset)
      this.open.set(key, length)
      return
    }
    if (size === undefined) {
      throw new StmpProtocolError('BAD_FRAGMENT', `continuation of ${kind} ${id} with nothing to continue`, offset, { kind, messageId: id })
    }
    const total = size + length
    if (!head.fin) this.open.delete(key)
    this.checkMessageSize(kind, id, total, offset)
    if (head.fin) this.open.set(key, total)
  }

  private checkMessageSize(kind: Kind, id: number, size: number, offset: number): void {
    if (size > this.limits.maxMessageSize) {
      this.open.delete((KIND_CODE[kind] << 16) | id)
      throw new StmpProtocolError('TOO_LARGE', `message over the ${this.limits.maxMessageSize}-byte limit`, offset, { kind, messageId: id })
    }
  }

  /** Reports an oversized frame, with its kind and id when they lie in this chunk (for a 413). */
  private tooLarge(chunk: Buffer, pos: number, lengthSize: number, length: number, offset: number): void {
    const head = pos + lengthSize
    const kind = head < chunk.length ? KIND_BY_CODE[(chunk[head] >> 4) & 7] : undefined
    const messageId = head + 2 < chunk.length ? (chunk[head + 1] << 8) | chunk[head + 2] : undefined
    this.fail(new StmpProtocolError('TOO_LARGE', `frame of ${length} bytes is over the ${this.limits.maxFrameSize}-byte limit`, offset, { kind, messageId }))
  }

  private fail(error: StmpProtocolError, fatal = false): void {
    if (fatal || !this.continueAfterError) this.failed = true
    this.onError(error)
  }
}
