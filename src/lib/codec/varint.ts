import { MAX_LENGTH } from './types.js'

/**
 * LENGTH: unsigned LEB128, 1 to 4 bytes (wire notes §2). Encoders write the shortest form;
 * decoders accept longer forms that fit in 4 bytes.
 */

/** readLength result when the buffer ends before the LENGTH does. */
export const LENGTH_INCOMPLETE = -1
/** readLength result when a fourth byte still has its high bit set (BAD_LENGTH). */
export const LENGTH_INVALID = -2

/**
 * Reads a LENGTH at `pos`. Returns the value and sets `out.size` to the number of bytes it took,
 * or returns LENGTH_INCOMPLETE / LENGTH_INVALID. `out` avoids an allocation per frame.
 */
export function readLength(buf: Uint8Array, pos: number, end: number, out: { size: number }): number {
  let value = 0
  for (let i = 0; i < 4; i++) {
    if (pos + i >= end) return LENGTH_INCOMPLETE
    const b = buf[pos + i]
    value |= (b & 0x7f) << (7 * i)
    if ((b & 0x80) === 0) {
      out.size = i + 1
      return value
    }
  }
  return LENGTH_INVALID
}

export function lengthSize(value: number): number {
  if (value < 0x80) return 1
  if (value < 0x4000) return 2
  if (value < 0x200000) return 3
  if (value <= MAX_LENGTH) return 4
  throw new RangeError(`LENGTH ${value} is over the wire maximum ${MAX_LENGTH}`)
}

/** Writes `value` as the shortest LENGTH at `pos`; returns the position after it. */
export function writeLength(buf: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    buf[pos++] = (value & 0x7f) | 0x80
    value >>>= 7
  }
  buf[pos++] = value
  return pos
}
