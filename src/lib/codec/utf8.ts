import { isUtf8 } from 'node:buffer'
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
