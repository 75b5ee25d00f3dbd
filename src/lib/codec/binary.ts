import { StmpProtocolError } from './errors.js'
import type { Frame, FrameOptions, Kind } from './types.js'
import { KIND_BY_CODE, KIND_CODE } from './types.js'
import { readCachedUtf8, readUtf8, utf8Length, writeUtf8 } from './utf8.js'

/**
 * The binary format (wire notes §3, §5, §7): one frame body, without LENGTH.
 * Head byte, MSB first: reserved(1) KIND(3) FOLLOW(1) FIN(1) reserved(2).
 */

const RESERVED_MASK = 0x83
const FOLLOW_BIT = 0x08
const FIN_BIT = 0x04
const NEWLINE = 0x0a

export function headByte(kind: Kind, follow: boolean, fin: boolean): number {
  return (KIND_CODE[kind] << 4) | (follow ? FOLLOW_BIT : 0) | (fin ? FIN_BIT : 0)
}

function short(kind: Kind, need: number, have: number, offset: number): StmpProtocolError {
  return new StmpProtocolError('SHORT_FRAME', `${kind} frame needs at least ${need} bytes, has ${have}`, offset, { kind })
}

/**
 * Decodes the binary frame body in buf[start, end). `offset` is where the frame starts in the
 * input (its LENGTH byte on a stream), reported in errors. Payloads are views, not copies.
 */
export function decodeBinaryBody(buf: Buffer, start: number, end: number, offset: number, options: FrameOptions): Frame {
  const size = end - start
  if (size < 1) throw new StmpProtocolError('SHORT_FRAME', 'empty frame', offset)
  const head = buf[start]
  if ((head & RESERVED_MASK) !== 0) {
    throw new StmpProtocolError('RESERVED_BIT', `reserved head bit set (head 0x${head.toString(16).padStart(2, '0')})`, offset)
  }
  const kind = KIND_BY_CODE[(head >> 4) & 7]
  if (kind === undefined) throw new StmpProtocolError('BAD_KIND', `unknown kind ${(head >> 4) & 7}`, offset)
  const follow = (head & FOLLOW_BIT) !== 0
  const fin = (head & FIN_BIT) !== 0
  if ((follow || fin) && (kind === 'ping' || kind === 'close' || options.framing === 'websocket')) {
    throw new StmpProtocolError('BAD_FRAGMENT', `FOLLOW/FIN set on a ${kind}${options.framing === 'websocket' ? ' on WebSocket' : ''}`, offset, { kind })
  }
  if (size < 3) throw short(kind, 3, size, offset)
  const id = (buf[start + 1] << 8) | buf[start + 2]
  switch (kind) {
    case 'ping':
      return { kind, id }
    case 'close':
      return { kind, status: id, message: readUtf8(buf, start + 3, end, offset, 'close message') }
    case 'request':
    case 'push': {
      if (follow) return { kind, id, payload: buf.subarray(start + 3, end), follow, fin }
      let nl = start + 3
      while (nl < end && buf[nl] !== NEWLINE) nl++
      if (nl === end) throw new StmpProtocolError('NO_ACTION_END', `${kind} has no \\n after its action`, offset, { kind, messageId: id })
      if (nl === start + 3) throw new StmpProtocolError('EMPTY_ACTION', `${kind} has an empty action`, offset, { kind, messageId: id })
      const action = readCachedUtf8(buf, start + 3, nl, offset, 'action')
      return { kind, id, action, payload: buf.subarray(nl + 1, end), follow, fin }
    }
    case 'response': {
      if (follow) return { kind, id, payload: buf.subarray(start + 3, end), follow, fin }
      const need = options.serverLatency ? 7 : 5
      if (size < need) throw short(kind, need, size, offset)
      const status = (buf[start + 3] << 8) | buf[start + 4]
      const latency = options.serverLatency ? (buf[start + 5] << 8) | buf[start + 6] : null
      return { kind, id, status, latency, payload: buf.subarray(start + need, end), follow, fin }
    }
  }
}

/** Byte size of the binary body of `frame` (without LENGTH). */
export function binaryBodySize(frame: Frame, options: FrameOptions): number {
  switch (frame.kind) {
    case 'ping':
      return 3
    case 'close':
      return 3 + utf8Length(frame.message)
    case 'request':
    case 'push':
      if (frame.follow) return 3 + frame.payload.length
      return 4 + utf8Length(requireField(frame.action, 'action')) + frame.payload.length
    case 'response':
      if (frame.follow) return 3 + frame.payload.length
      return (options.serverLatency ? 7 : 5) + frame.payload.length
  }
}

function requireField<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new TypeError(`frame needs ${name} unless follow is set`)
  return value
}

/** Big-endian 16-bit number, checked as writeUInt16BE checks it, without its call overhead. */
function writeU16(buf: Buffer, pos: number, n: number): void {
  if ((n & 0xffff) !== n) throw new RangeError(`${n} is not a 16-bit number (0..65535)`)
  buf[pos] = n >>> 8
  buf[pos + 1] = n & 0xff
}

/**
 * Writes the binary body of `frame` at `pos`; returns the position after it. The hot path of
 * encoding: numbers byte by byte, short strings by a JS loop (utf8.ts), the payload with
 * TypedArray#set (Buffer#copy builds a temporary Uint8Array on each call).
 */
export function writeBinaryBody(frame: Frame, options: FrameOptions, buf: Buffer, pos: number): number {
  switch (frame.kind) {
    case 'ping':
      buf[pos] = 0x00
      writeU16(buf, pos + 1, frame.id)
      return pos + 3
    case 'close':
      buf[pos] = 0x40
      writeU16(buf, pos + 1, frame.status)
      return pos + 3 + writeUtf8(buf, pos + 3, frame.message)
    case 'request':
    case 'push':
    case 'response': {
      buf[pos] = headByte(frame.kind, frame.follow, frame.fin)
      writeU16(buf, pos + 1, frame.id)
      pos += 3
      if (!frame.follow) {
        if (frame.kind === 'response') {
          writeU16(buf, pos, requireField(frame.status, 'status'))
          pos += 2
          if (options.serverLatency) {
            writeU16(buf, pos, Math.min(frame.latency ?? 0, 0xffff))
            pos += 2
          }
        } else {
          pos += writeUtf8(buf, pos, requireField(frame.action, 'action'))
          buf[pos++] = NEWLINE
        }
      }
      buf.set(frame.payload, pos)
      return pos + frame.payload.length
    }
  }
}
