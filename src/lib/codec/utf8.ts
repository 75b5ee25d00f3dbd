import { isUtf8 } from '../lazy.js'
import { StmpProtocolError } from './errors.js'

/**
 * Reads UTF-8 text (action, URL, header, close or handshake message) or fails with BAD_UTF8.
 * ASCII, the common case, takes a fast latin1 path with no validation cost beyond one scan.
 */
export function readUtf8(buf: Buffer, start: number, end: number, offset: number, what: string): string {
  for (let i = start; i < end; i++) {
    if (buf[i] >= 0x80) {
      const view = buf.subarray(start, end)
      if (!isUtf8(view)) {
        throw new StmpProtocolError('BAD_UTF8', `${what} is not valid UTF-8`, offset)
      }
      return view.toString('utf8')
    }
  }
  return buf.toString('latin1', start, end)
}

/**
 * Actions repeat: a connection uses a handful of them, so decoding each one afresh (a call into
 * C++ and a new string per frame) was the largest cost of decoding small Requests after the
 * frame object itself. A small direct-mapped cache of ASCII strings, checked character by
 * character against the bytes, returns the same string instead. Only ASCII is cached: there a
 * string's char codes are its bytes, so the check needs no copy of the bytes.
 */
const CACHE_SLOTS = 256
const CACHE_MAX_LENGTH = 64
const cache: (string | undefined)[] = new Array<string | undefined>(CACHE_SLOTS).fill(undefined)

/** readUtf8 for short strings that repeat (actions); the same result, cached. */
export function readCachedUtf8(buf: Buffer, start: number, end: number, offset: number, what: string): string {
  const length = end - start
  if (length > CACHE_MAX_LENGTH) return readUtf8(buf, start, end, offset, what)
  let hash = length
  for (let i = start; i < end; i++) hash = (Math.imul(hash, 31) + buf[i]) | 0
  const slot = (hash ^ (hash >>> 9)) & (CACHE_SLOTS - 1)
  const cached = cache[slot]
  if (cached !== undefined && cached.length === length) {
    let i = 0
    while (i < length && cached.charCodeAt(i) === buf[start + i]) i++
    if (i === length) return cached
  }
  const text = readUtf8(buf, start, end, offset, what)
  if (text.length === length) cache[slot] = text // all ASCII: one char per byte
  return text
}

/**
 * UTF-8 size and writing of short strings (actions, close messages) for the encoders. Most are
 * ASCII and a few characters long: a JS loop beats a call into C++ (Buffer.byteLength,
 * buf.write) there. Anything else takes Buffer's own path.
 */
const ASCII_LOOP_MAX = 64

export function utf8Length(text: string): number {
  if (text.length > ASCII_LOOP_MAX) return Buffer.byteLength(text, 'utf8')
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return Buffer.byteLength(text, 'utf8')
  return text.length
}

/** Writes `text` as UTF-8 at `pos`; returns the number of bytes written. */
export function writeUtf8(buf: Buffer, pos: number, text: string): number {
  if (text.length > ASCII_LOOP_MAX) return buf.write(text, pos, 'utf8')
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0x80) return buf.write(text, pos, 'utf8')
    buf[pos + i] = c
  }
  return text.length
}
