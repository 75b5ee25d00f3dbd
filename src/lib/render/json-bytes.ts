import { isUtf8 } from 'node:buffer'

/**
 * Checks that bytes are one JSON text (RFC 8259) without building it, for `decode --json`: a
 * valid JSON payload is copied into the output line as it is, which is several times cheaper
 * than JSON.parse + JSON.stringify on the hot path. Accepts exactly what `JSON.parse` of the
 * UTF-8 text accepts (the tests check it against JSON.parse).
 */

/** Not JSON. */
export const JSON_INVALID = 0
/** Valid JSON, on one line: it can go into an NDJSON line as it is. */
export const JSON_ONE_LINE = 1
/** Valid JSON with CR or LF between tokens: it must be re-serialised for NDJSON. */
export const JSON_MULTI_LINE = 2

const OBJECT = 1
const ARRAY = 2

// The scanner runs once per payload on the hot path of `decode --json`: everything is in local
// variables of one function (module variables or closures would be loaded from a context on every
// byte), and the container stack is a reused Uint8Array grown when a payload nests deeper.
let stack = new Uint8Array(64)
/** Set by scanString when a string holds a byte >= 0x80 (then the whole text is checked as UTF-8). */
let sawNonAscii = false
/** Set by skipSpace when it passes a CR or LF. */
let sawNewline = false

/** The index of the first byte at or after i that is not JSON whitespace. */
function skipSpace(b: Uint8Array, i: number, n: number): number {
  while (i < n) {
    const c = b[i]
    if (c === 0x20 || c === 0x09) i++
    else if (c === 0x0a || c === 0x0d) {
      sawNewline = true
      i++
    } else break
  }
  return i
}

/** b[i] is `"`: the index past the closing quote, or -1 when the string is bad. */
function scanString(b: Uint8Array, i: number, n: number): number {
  i++
  while (i < n) {
    const c = b[i]
    if (c === 0x22) return i + 1
    if (c === 0x5c) {
      const e = b[i + 1]
      if (e === 0x75) {
        for (let k = 2; k < 6; k++) {
          const h = b[i + k]
          if (h === undefined || !((h >= 0x30 && h <= 0x39) || (h >= 0x41 && h <= 0x46) || (h >= 0x61 && h <= 0x66))) return -1
        }
        i += 6
        continue
      }
      if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i += 2
        continue
      }
      return -1
    }
    if (c < 0x20) return -1
    if (c >= 0x80) sawNonAscii = true
    i++
  }
  return -1
}

/** b[i] starts a number (`-` or a digit): the index past it, or -1. */
function scanNumber(b: Uint8Array, i: number, n: number): number {
  if (b[i] === 0x2d) i++
  if (i < n && b[i] === 0x30) i++
  else if (i < n && b[i] >= 0x31 && b[i] <= 0x39) {
    i++
    while (i < n && b[i] >= 0x30 && b[i] <= 0x39) i++
  } else return -1
  if (i < n && b[i] === 0x2e) {
    const start = ++i
    while (i < n && b[i] >= 0x30 && b[i] <= 0x39) i++
    if (i === start) return -1
  }
  if (i < n && (b[i] === 0x65 || b[i] === 0x45)) {
    i++
    if (i < n && (b[i] === 0x2b || b[i] === 0x2d)) i++
    const start = i
    while (i < n && b[i] >= 0x30 && b[i] <= 0x39) i++
    if (i === start) return -1
  }
  return i
}

/** `true`, `false` or `null` at b[i]: the index past it, or -1. */
function scanLiteral(b: Uint8Array, i: number, n: number, c: number): number {
  if (i + (c === 0x66 ? 5 : 4) > n) return -1
  if (c === 0x74) return b[i + 1] === 0x72 && b[i + 2] === 0x75 && b[i + 3] === 0x65 ? i + 4 : -1
  if (c === 0x66) return b[i + 1] === 0x61 && b[i + 2] === 0x6c && b[i + 3] === 0x73 && b[i + 4] === 0x65 ? i + 5 : -1
  if (c === 0x6e) return b[i + 1] === 0x75 && b[i + 2] === 0x6c && b[i + 3] === 0x6c ? i + 4 : -1
  return -1
}

/** Checks b[start, end) (the whole of b by default). */
export function checkJsonBytes(b: Uint8Array, start = 0, end = b.length): number {
  const n = end
  let i = start
  let depth = 0
  sawNonAscii = false
  sawNewline = false
  for (;;) {
    // A value is expected (after the start, `[`, `,` in an array, or `:` in an object).
    i = skipSpace(b, i, n)
    if (i >= n) return JSON_INVALID
    const c = b[i]
    let open = 0
    if (c === 0x7b || c === 0x5b) {
      i++
      i = skipSpace(b, i, n)
      if (i < n && b[i] === c + 2) i++ // `{}` or `[]`: a complete value
      else open = c === 0x7b ? OBJECT : ARRAY
    } else if (c === 0x22) {
      i = scanString(b, i, n)
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      i = scanNumber(b, i, n)
    } else {
      i = scanLiteral(b, i, n, c)
    }
    if (i < 0) return JSON_INVALID
    if (open !== 0) {
      if (depth === stack.length) {
        const grown = new Uint8Array(stack.length * 2)
        grown.set(stack)
        stack = grown
      }
      stack[depth++] = open
      if (open === ARRAY) continue
    } else {
      // A value is complete: close containers until a `,` or the end.
      for (;;) {
        i = skipSpace(b, i, n)
        if (depth === 0) {
          if (i !== n) return JSON_INVALID
          if (sawNonAscii && !isUtf8(b.subarray(start, end))) return JSON_INVALID
          return sawNewline ? JSON_MULTI_LINE : JSON_ONE_LINE
        }
        const d = b[i]
        const top = stack[depth - 1]
        if (d === 0x2c) {
          i++
          break
        }
        if ((top === OBJECT && d === 0x7d) || (top === ARRAY && d === 0x5d)) {
          depth--
          i++
          continue
        }
        return JSON_INVALID
      }
      if (stack[depth - 1] === ARRAY) continue
    }
    // In an object, after `{` or `,`: `"key" :`.
    i = skipSpace(b, i, n)
    if (b[i] !== 0x22) return JSON_INVALID
    i = scanString(b, i, n)
    if (i < 0) return JSON_INVALID
    i = skipSpace(b, i, n)
    if (b[i] !== 0x3a) return JSON_INVALID
    i++
  }
}
