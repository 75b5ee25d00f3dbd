/**
 * Text-format numbers (wire notes §4): the standard base64 of two big-endian bytes, unpadded,
 * always 3 characters. A third character whose low 2 bits are not zero cannot come from 2 bytes.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i

/** Decodes the 3 characters at `pos` (as bytes); returns the number, or -1 if they are not valid. */
export function readTextNumber(buf: Uint8Array, pos: number): number {
  const a = buf[pos]
  const b = buf[pos + 1]
  const c = buf[pos + 2]
  if (a >= 128 || b >= 128 || c >= 128) return -1
  const va = VALUE[a]
  const vb = VALUE[b]
  const vc = VALUE[c]
  if (va < 0 || vb < 0 || vc < 0 || (vc & 3) !== 0) return -1
  return (va << 10) | (vb << 4) | (vc >> 2)
}

/** Writes `n` (0..65535) as 3 characters at `pos`. */
export function writeTextNumber(buf: Uint8Array, pos: number, n: number): void {
  buf[pos] = ALPHABET.charCodeAt((n >> 10) & 63)
  buf[pos + 1] = ALPHABET.charCodeAt((n >> 4) & 63)
  buf[pos + 2] = ALPHABET.charCodeAt((n << 2) & 63)
}

