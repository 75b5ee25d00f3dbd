import { StmpProtocolError } from './errors.js'
import type { HandshakeRequestFrame, HandshakeResponseFrame } from './types.js'
import { readUtf8 } from './utf8.js'
import { LENGTH_INCOMPLETE, LENGTH_INVALID, lengthSize, readLength, writeLength } from './varint.js'

/**
 * Handshake frames on stream transports (wire notes §8).
 * client: LENGTH + URL [+ "\n" + "KEY: VALUE"]*; server: LENGTH + status(2) + MESSAGE.
 */

/** Decodes a client handshake body buf[start, end). Header keys are lower-cased. */
export function decodeHandshakeRequest(buf: Buffer, start: number, end: number, offset: number): HandshakeRequestFrame {
  if (end <= start) throw new StmpProtocolError('SHORT_FRAME', 'handshake request has no URL', offset)
  const text = readUtf8(buf, start, end, offset, 'handshake request')
  const lines = text.split('\n')
  const url = lines[0]
  if (url === '') throw new StmpProtocolError('SHORT_FRAME', 'handshake request has an empty URL', offset)
  const headers: Record<string, string> = {}
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]
    if (line === '') continue // a trailing "\n" is allowed
    const colon = line.indexOf(':')
    const key = (colon < 0 ? line : line.slice(0, colon)).trim().toLowerCase()
    const value = colon < 0 ? '' : line.slice(colon + 1).trim()
    // Repeated keys join as in HTTP (RFC 9110 §5.3).
    headers[key] = key in headers ? `${headers[key]}, ${value}` : value
  }
  return { kind: 'handshake-request', url, headers }
}

export function decodeHandshakeResponse(buf: Buffer, start: number, end: number, offset: number): HandshakeResponseFrame {
  if (end - start < 2) {
    throw new StmpProtocolError('SHORT_FRAME', `handshake response needs at least 2 bytes, has ${end - start}`, offset)
  }
  const status = (buf[start] << 8) | buf[start + 1]
  return { kind: 'handshake-response', status, message: readUtf8(buf, start + 2, end, offset, 'handshake message') }
}

/** The body text of a client handshake: URL then one "key: value" line per header. */
export function handshakeRequestText(frame: Pick<HandshakeRequestFrame, 'url' | 'headers'>): string {
  let text = frame.url
  for (const [key, value] of Object.entries(frame.headers)) {
    if (key.includes('\n') || value.includes('\n') || key.includes(':')) {
      throw new TypeError(`header ${JSON.stringify(key)} cannot hold a newline or a colon in its key`)
    }
    text += `\n${key}: ${value}`
  }
  return text
}

/** Encodes a client handshake with its LENGTH (stream transports only). */
export function encodeHandshakeRequest(frame: Pick<HandshakeRequestFrame, 'url' | 'headers'>): Buffer {
  const body = Buffer.from(handshakeRequestText(frame), 'utf8')
  const out = Buffer.allocUnsafe(lengthSize(body.length) + body.length)
  body.copy(out, writeLength(out, 0, body.length))
  return out
}

export function encodeHandshakeResponse(frame: Pick<HandshakeResponseFrame, 'status' | 'message'>): Buffer {
  const size = 2 + Buffer.byteLength(frame.message)
  const out = Buffer.allocUnsafe(lengthSize(size) + size)
  const pos = writeLength(out, 0, size)
  out.writeUInt16BE(frame.status, pos)
  out.write(frame.message, pos + 2, 'utf8')
  return out
}

/**
 * Whether stream bytes start like a client's handshake (wire notes §8): a LENGTH within
 * `maxFrameSize`, then a URL starting with `/`. `undefined`: too few bytes to tell. Used to pick
 * the dialect of a captured connection (dialects/stmp-v3/capture.ts, capture/stmp.ts).
 */
export function looksLikeHandshake(bytes: Buffer, maxFrameSize: number): boolean | undefined {
  const out = { size: 0 }
  const length = readLength(bytes, 0, bytes.length, out)
  if (length === LENGTH_INCOMPLETE) return undefined
  if (length === LENGTH_INVALID || length < 1 || length > maxFrameSize) return false
  if (bytes.length <= out.size) return undefined
  return bytes[out.size] === 0x2f
}
