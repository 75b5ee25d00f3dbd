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

// The scanner's state lives in module variables, not in closures: checkJsonBytes runs once per
// payload on the hot path, and closures would be allocated on every call.
let b: Uint8Array = new Uint8Array(0)
let n = 0
let i = 0
let newline = false
let nonAscii = false
const stack: number[] = []

function ws(): void {
  while (i < n) {
    const c = b[i]
    if (c === 0x20 || c === 0x09) i++
    else if (c === 0x0a || c === 0x0d) {
      newline = true
      i++
    } else break
  }
}

/** b[i] is `"`: moves i past the closing quote; false when the string is bad. */
function string(): boolean {
  i++
  while (i < n) {
    const c = b[i]
    if (c === 0x22) {
      i++
      return true
    }
    if (c < 0x20) return false
    if (c === 0x5c) {
      const e = b[i + 1]
      if (e === 0x75) {
        for (let k = 2; k < 6; k++) {
          const h = b[i + k]
          if (h === undefined || !((h >= 0x30 && h <= 0x39) || (h >= 0x41 && h <= 0x46) || (h >= 0x61 && h <= 0x66))) return false
        }
        i += 6
        continue
      }
      if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i += 2
        continue
      }
      return false
    }
    if (c >= 0x80) nonAscii = true
    i++
  }
  return false
}

function digits(): boolean {
  const start = i
  while (i < n && b[i] >= 0x30 && b[i] <= 0x39) i++
  return i > start
}

function number(): boolean {
  if (b[i] === 0x2d) i++
  if (b[i] === 0x30) i++
  else if (b[i] >= 0x31 && b[i] <= 0x39) digits()
  else return false
  if (b[i] === 0x2e) {
    i++
    if (!digits()) return false
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++
    if (b[i] === 0x2b || b[i] === 0x2d) i++
    if (!digits()) return false
  }
  return true
}

function literal(text: readonly number[]): boolean {
  for (let k = 0; k < text.length; k++) if (b[i + k] !== text[k]) return false
  i += text.length
  return true
}

/** After `{` or `,` in an object: `"key" :`. */
function key(): boolean {
  ws()
  if (b[i] !== 0x22 || !string()) return false
  ws()
  if (b[i] !== 0x3a) return false
  i++
  return true
}

export function checkJsonBytes(bytes: Uint8Array): number {
  b = bytes
  n = bytes.length
  i = 0
  newline = false
  nonAscii = false
  stack.length = 0
  const result = scan()
  b = EMPTY
  return result
}

const EMPTY = new Uint8Array(0)

function scan(): number {
  for (;;) {
    // A value is expected.
    ws()
    if (i >= n) return JSON_INVALID
    const c = b[i]
    let scalar = true
    if (c === 0x7b) {
      i++
      ws()
      if (b[i] === 0x7d) i++
      else {
        stack.push(OBJECT)
        if (!key()) return JSON_INVALID
        scalar = false
      }
    } else if (c === 0x5b) {
      i++
      ws()
      if (b[i] === 0x5d) i++
      else {
        stack.push(ARRAY)
        scalar = false
      }
    } else if (c === 0x22) {
      if (!string()) return JSON_INVALID
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      if (!number()) return JSON_INVALID
    } else if (c === 0x74) {
      if (!literal(TRUE)) return JSON_INVALID
    } else if (c === 0x66) {
      if (!literal(FALSE)) return JSON_INVALID
    } else if (c === 0x6e) {
      if (!literal(NULL)) return JSON_INVALID
    } else {
      return JSON_INVALID
    }
    if (!scalar) continue
    // A value is complete: close containers or move to the next element.
    for (;;) {
      ws()
      if (stack.length === 0) {
        if (i !== n) return JSON_INVALID
        if (nonAscii && !isUtf8(b)) return JSON_INVALID
        return newline ? JSON_MULTI_LINE : JSON_ONE_LINE
      }
      const top = stack[stack.length - 1]
      const d = b[i]
      if (d === 0x2c) {
        i++
        if (top === OBJECT && !key()) return JSON_INVALID
        break
      }
      if ((top === OBJECT && d === 0x7d) || (top === ARRAY && d === 0x5d)) {
        stack.pop()
        i++
        continue
      }
      return JSON_INVALID
    }
  }
}

const TRUE = [0x74, 0x72, 0x75, 0x65] as const
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65] as const
const NULL = [0x6e, 0x75, 0x6c, 0x6c] as const
