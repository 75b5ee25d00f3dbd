import { stmpV3, type WireDialect } from './dialect.js'
import type { Frame, FrameOptions, MessageFrame } from './types.js'
import { DEFAULT_FRAGMENT_SIZE, DEFAULT_FRAME_OPTIONS } from './types.js'

/**
 * Encodes one frame: with its LENGTH on a stream, as a bare message body on WebSocket.
 * One allocation: the size is computed first, then head and payload are written.
 */
export function encodeFrame(frame: Frame, options: FrameOptions = DEFAULT_FRAME_OPTIONS, dialect: WireDialect = stmpV3): Buffer {
  const body = dialect.bodySize(frame, options)
  if (options.framing === 'websocket') {
    const out = Buffer.allocUnsafe(body)
    dialect.writeBody(frame, options, out, 0)
    return out
  }
  const out = Buffer.allocUnsafe(dialect.lengthSize(body) + body)
  dialect.writeBody(frame, options, out, dialect.writeLength(out, 0, body))
  return out
}

/** The bytes encodeFrame would return for this frame. */
export function encodedSize(frame: Frame, options: FrameOptions = DEFAULT_FRAME_OPTIONS, dialect: WireDialect = stmpV3): number {
  const body = dialect.bodySize(frame, options)
  return options.framing === 'websocket' ? body : dialect.lengthSize(body) + body
}

/**
 * encodeFrame into `out` at `offset` (which must have encodedSize bytes of room); returns the
 * offset past the frame. For writers that pack many frames into one buffer. `body` is
 * `dialect.bodySize(frame, options)`, which the caller needed for the room anyway.
 */
export function encodeFrameInto(frame: Frame, options: FrameOptions, out: Buffer, offset: number, body: number, dialect: WireDialect = stmpV3): number {
  const at = options.framing === 'websocket' ? offset : dialect.writeLength(out, offset, body)
  dialect.writeBody(frame, options, out, at)
  return at + body
}

/**
 * Splits a Request, Push or Response whose frame would exceed `fragmentSize` bytes of LENGTH
 * into a first frame (FOLLOW=0 FIN=1), middle frames (FOLLOW=1 FIN=1) and a last frame
 * (FOLLOW=1 FIN=0), wire notes §7. Returns one encoded buffer per frame, so a session can send
 * other messages' frames between them. Stream transports and the binary format only; a message
 * that fits is returned as one unfragmented frame.
 */
export function encodeFragmented(
  frame: MessageFrame,
  options: FrameOptions = DEFAULT_FRAME_OPTIONS,
  fragmentSize = DEFAULT_FRAGMENT_SIZE,
  dialect: WireDialect = stmpV3,
): Buffer[] {
  const whole = dialect.bodySize(frame, options)
  if (whole <= fragmentSize || options.framing !== 'stream' || options.format !== 'binary') {
    return [encodeFrame(frame, options, dialect)]
  }
  const headSize = whole - frame.payload.length
  if (headSize + 1 > fragmentSize || fragmentSize < 4) {
    throw new RangeError(`fragment size ${fragmentSize} cannot hold the ${headSize}-byte head of this frame`)
  }
  const out: Buffer[] = []
  const first = fragmentSize - headSize
  out.push(encodeFrame({ ...frame, payload: frame.payload.subarray(0, first), follow: false, fin: true }, options, dialect))
  const chunk = fragmentSize - 3 // head + id
  for (let pos = first; pos < frame.payload.length; pos += chunk) {
    const end = Math.min(pos + chunk, frame.payload.length)
    const last = end === frame.payload.length
    out.push(encodeFrame({ kind: frame.kind, id: frame.id, payload: frame.payload.subarray(pos, end), follow: true, fin: !last }, options, dialect))
  }
  return out
}
