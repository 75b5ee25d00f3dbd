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

/** What peekMessageHead tells of a frame: a message frame's kind, id and fragment bits. */
export interface MessageHeadBits {
  kind: 'request' | 'push' | 'response'
  id: number
  follow: boolean
  fin: boolean
}

/**
 * The kind, id and fragment bits of the binary frame body starting at buf[start], from its first
 * 3 bytes alone; undefined when fewer are in (before `end`) or it is no valid Request, Push or
 * Response head. For a frame whose rest was never seen (a capture gap).
 */
export function peekMessageHead(buf: Uint8Array, start: number, end: number): MessageHeadBits | undefined {
  if (end - start < 3) return undefined
  const byte = buf[start]
  if ((byte & RESERVED_MASK) !== 0) return undefined
  const kind = KIND_BY_CODE[(byte >> 4) & 7]
  if (kind !== 'request' && kind !== 'push' && kind !== 'response') return undefined
  return { kind, id: (buf[start + 1] << 8) | buf[start + 2], follow: (byte & FOLLOW_BIT) !== 0, fin: (byte & FIN_BIT) !== 0 }
}

function short(kind: Kind, need: number, have: number, offset: number): StmpProtocolError {
  return new StmpProtocolError('SHORT_FRAME', `${kind} frame needs at least ${need} bytes, has ${have}`, offset, { kind })
}

/**
 * A binary frame's fields, with its payload as a range of the input instead of a view: what
 * decodeBinaryHead fills in place. A consumer that only copies the bytes out (`decode --json` of a
 * large capture) then needs no object and no Buffer view per frame. `id` is a Close's status;
 * `payloadStart`/`payloadEnd` bound the payload (a Close: its message). Fields a kind does not have
 * keep older values.
 */
export interface FrameHead {
  kind: Kind
  id: number
  follow: boolean
  fin: boolean
  action: string | undefined
  status: number
  latency: number | null
  payloadStart: number
  payloadEnd: number
}

export function newFrameHead(): FrameHead {
  return { kind: 'ping', id: 0, follow: false, fin: false, action: undefined, status: 0, latency: null, payloadStart: 0, payloadEnd: 0 }
}

/**
 * Decodes the binary frame body in buf[start, end) into `head`. `offset` is where the frame starts
 * in the input (its LENGTH byte on a stream), reported in errors. Throws StmpProtocolError; a
 * Close's message is checked by frameFromHead.
 */
export function decodeBinaryHead(buf: Buffer, start: number, end: number, offset: number, options: FrameOptions, head: FrameHead): void {
  const size = end - start
  if (size < 1) throw new StmpProtocolError('SHORT_FRAME', 'empty frame', offset)
  const byte = buf[start]
  if ((byte & RESERVED_MASK) !== 0) {
    throw new StmpProtocolError('RESERVED_BIT', `reserved head bit set (head 0x${byte.toString(16).padStart(2, '0')})`, offset)
  }
  const kind = KIND_BY_CODE[(byte >> 4) & 7]
  if (kind === undefined) throw new StmpProtocolError('BAD_KIND', `unknown kind ${(byte >> 4) & 7}`, offset)
  const follow = (byte & FOLLOW_BIT) !== 0
  const fin = (byte & FIN_BIT) !== 0
  if ((follow || fin) && (kind === 'ping' || kind === 'close' || options.framing === 'websocket')) {
    throw new StmpProtocolError('BAD_FRAGMENT', `FOLLOW/FIN set on a ${kind}${options.framing === 'websocket' ? ' on WebSocket' : ''}`, offset, { kind })
  }
  if (size < 3) throw short(kind, 3, size, offset)
  const id = (buf[start + 1] << 8) | buf[start + 2]
  let payloadStart = start + 3
  if (!follow && (kind === 'request' || kind === 'push')) {
    let nl = payloadStart
    while (nl < end && buf[nl] !== NEWLINE) nl++
    if (nl === end) throw new StmpProtocolError('NO_ACTION_END', `${kind} has no \\n after its action`, offset, { kind, messageId: id })
    if (nl === payloadStart) throw new StmpProtocolError('EMPTY_ACTION', `${kind} has an empty action`, offset, { kind, messageId: id })
    head.action = readCachedUtf8(buf, payloadStart, nl, offset, 'action')
    payloadStart = nl + 1
  } else if (!follow && kind === 'response') {
    const need = options.serverLatency ? 7 : 5
    if (size < need) throw short(kind, need, size, offset)
    head.status = (buf[start + 3] << 8) | buf[start + 4]
    head.latency = options.serverLatency ? (buf[start + 5] << 8) | buf[start + 6] : null
    payloadStart = start + need
  }
  head.kind = kind
  head.id = id
  head.follow = follow
  head.fin = fin
  head.payloadStart = payloadStart
  head.payloadEnd = end
}

/** The Frame that `head` describes; payloads are views of `buf`, not copies. */
export function frameFromHead(head: FrameHead, buf: Buffer, offset: number): Frame {
  const { id, follow, fin } = head
  switch (head.kind) {
    case 'ping':
      return { kind: 'ping', id }
    case 'close':
      return { kind: 'close', status: id, message: readUtf8(buf, head.payloadStart, head.payloadEnd, offset, 'close message') }
    case 'request':
    case 'push': {
      const payload = buf.subarray(head.payloadStart, head.payloadEnd)
      if (follow) return { kind: head.kind, id, payload, follow, fin }
      return { kind: head.kind, id, action: head.action, payload, follow, fin }
    }
    case 'response': {
      const payload = buf.subarray(head.payloadStart, head.payloadEnd)
      if (follow) return { kind: 'response', id, payload, follow, fin }
      return { kind: 'response', id, status: head.status, latency: head.latency, payload, follow, fin }
    }
  }
}

const scratch = newFrameHead()

/**
 * Decodes the binary frame body in buf[start, end) (decodeBinaryHead, then frameFromHead).
 * Payloads are views, not copies.
 */
export function decodeBinaryBody(buf: Buffer, start: number, end: number, offset: number, options: FrameOptions): Frame {
  decodeBinaryHead(buf, start, end, offset, options, scratch)
  return frameFromHead(scratch, buf, offset)
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
