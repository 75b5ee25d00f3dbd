import { StmpProtocolError } from './errors.js'
import type { Frame, FrameOptions, Kind } from './types.js'
import { TEXT_KIND_CHAR } from './types.js'
import { readCachedUtf8, readUtf8 } from './utf8.js'
import { readTextNumber, writeTextNumber } from './text-number.js'

/**
 * The text format (wire notes §3-§5), used for WebSocket text messages: one kind character,
 * numbers as 3 base64 characters, no FOLLOW/FIN (WebSocket frames messages itself).
 */

const KIND_BY_CHAR: Record<number, Kind | undefined> = {
  0x70: 'ping', // p
  0x71: 'request', // q
  0x6e: 'push', // n
  0x73: 'response', // s
  0x63: 'close', // c
}
const NEWLINE = 0x0a

function number(buf: Buffer, pos: number, offset: number, kind: Kind, field: string): number {
  const n = readTextNumber(buf, pos)
  if (n < 0) {
    throw new StmpProtocolError('BAD_NUMBER', `${kind} ${field} is not 3 base64 characters of 2 bytes`, offset, { kind })
  }
  return n
}

/** Decodes one text-format frame from the UTF-8 bytes buf[start, end). */
export function decodeTextBody(buf: Buffer, start: number, end: number, offset: number, options: FrameOptions): Frame {
  const size = end - start
  if (size < 1) throw new StmpProtocolError('SHORT_FRAME', 'empty frame', offset)
  const kind = KIND_BY_CHAR[buf[start]]
  if (kind === undefined) {
    throw new StmpProtocolError('BAD_KIND', `unknown text kind character 0x${buf[start].toString(16)}`, offset)
  }
  const need = kind === 'response' ? (options.serverLatency ? 10 : 7) : 4
  if (size < need) {
    throw new StmpProtocolError('SHORT_FRAME', `${kind} frame needs at least ${need} bytes, has ${size}`, offset, { kind })
  }
  const id = number(buf, start + 1, offset, kind, kind === 'close' ? 'code' : 'id')
  switch (kind) {
    case 'ping':
      return { kind, id }
    case 'close':
      return { kind, status: id, message: readUtf8(buf, start + 4, end, offset, 'close message') }
    case 'request':
    case 'push': {
      let nl = start + 4
      while (nl < end && buf[nl] !== NEWLINE) nl++
      if (nl === end) throw new StmpProtocolError('NO_ACTION_END', `${kind} has no \\n after its action`, offset, { kind, messageId: id })
      if (nl === start + 4) throw new StmpProtocolError('EMPTY_ACTION', `${kind} has an empty action`, offset, { kind, messageId: id })
      const action = readCachedUtf8(buf, start + 4, nl, offset, 'action')
      return { kind, id, action, payload: buf.subarray(nl + 1, end), follow: false, fin: false }
    }
    case 'response': {
      const status = number(buf, start + 4, offset, kind, 'status')
      const latency = options.serverLatency ? number(buf, start + 7, offset, kind, 'latency') : null
      return { kind, id, status, latency, payload: buf.subarray(start + need, end), follow: false, fin: false }
    }
  }
}

export function textBodySize(frame: Frame, options: FrameOptions): number {
  switch (frame.kind) {
    case 'ping':
      return 4
    case 'close':
      return 4 + Buffer.byteLength(frame.message)
    case 'request':
    case 'push':
      return 5 + Buffer.byteLength(frame.action ?? '') + frame.payload.length
    case 'response':
      return (options.serverLatency ? 10 : 7) + frame.payload.length
  }
}

export function writeTextBody(frame: Frame, options: FrameOptions, buf: Buffer, pos: number): number {
  if ((frame.kind === 'request' || frame.kind === 'push' || frame.kind === 'response') && (frame.follow || frame.fin)) {
    throw new TypeError('the text format has no FOLLOW/FIN (docs/protocol.md §9)')
  }
  buf[pos] = TEXT_KIND_CHAR[frame.kind].charCodeAt(0)
  switch (frame.kind) {
    case 'ping':
      writeTextNumber(buf, pos + 1, frame.id)
      return pos + 4
    case 'close':
      writeTextNumber(buf, pos + 1, frame.status)
      return pos + 4 + buf.write(frame.message, pos + 4, 'utf8')
    case 'request':
    case 'push': {
      if (frame.action === undefined) throw new TypeError('frame needs action')
      writeTextNumber(buf, pos + 1, frame.id)
      pos += 4 + buf.write(frame.action, pos + 4, 'utf8')
      buf[pos++] = NEWLINE
      return pos + frame.payload.copy(buf, pos)
    }
    case 'response': {
      if (frame.status === undefined) throw new TypeError('frame needs status')
      writeTextNumber(buf, pos + 1, frame.id)
      writeTextNumber(buf, pos + 4, frame.status)
      pos += 7
      if (options.serverLatency) {
        writeTextNumber(buf, pos, Math.min(frame.latency ?? 0, 0xffff))
        pos += 3
      }
      return pos + frame.payload.copy(buf, pos)
    }
  }
}
