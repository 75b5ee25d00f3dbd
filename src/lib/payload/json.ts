import { StmpError } from '../errors.js'
import { toJsonSafe } from './json-safe.js'
import type { PayloadCodec } from './types.js'

/** Where a JSON text stops being valid: 0-based UTF-16 offset, 1-based line and column. */
export interface JsonErrorPosition {
  offset: number
  line: number
  column: number
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** UTF-8 bytes to a string; invalid UTF-8 is BAD_PAYLOAD (wire notes §5: all strings are UTF-8). */
export function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes)
  } catch (err) {
    throw new StmpError('BAD_PAYLOAD', `${what} is not valid UTF-8`, { cause: err })
  }
}

/**
 * Parse JSON text; a syntax error is BAD_PAYLOAD with the line, column and offset.
 *
 * V8's messages name a position for some errors only ("Unexpected end of JSON input" and
 * "Unexpected token 'x', ... is not valid JSON" have none), so the position comes from our
 * own scan (jsonErrorPosition), and V8's text is kept as the detail.
 */
export function parseJson(text: string, what = 'JSON payload'): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    const pos = jsonErrorPosition(text)
    const where = pos === undefined ? '' : ` at line ${pos.line} column ${pos.column} (offset ${pos.offset})`
    const detail = err instanceof Error ? err.message : String(err)
    throw new StmpError('BAD_PAYLOAD', `${what} is not valid JSON${where}: ${detail}`, { cause: err })
  }
}

/**
 * The position of the first character where `text` stops being valid JSON (RFC 8259), or
 * undefined if it is valid. At the end of the text when the text ends too early.
 *
 * Only run after JSON.parse failed, so it is written for clarity, not speed; nesting is
 * handled with an explicit stack so that a deeply nested input cannot overflow the call stack.
 */
export function jsonErrorPosition(text: string): JsonErrorPosition | undefined {
  const offset = scanJson(text)
  if (offset === undefined) return undefined
  let line = 1
  let lineStart = 0
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++
      lineStart = i + 1
    }
  }
  return { offset, line, column: offset - lineStart + 1 }
}

function scanJson(s: string): number | undefined {
  let i = 0
  const n = s.length
  // What each open container expects next: 'first' a value/key or the closing bracket,
  // 'value' a value, 'key' a key, 'colon' the colon, 'comma' a comma or the closing bracket.
  const stack: Array<{ close: string; state: 'first' | 'value' | 'key' | 'colon' | 'comma' }> = []
  const ws = (): void => {
    while (i < n && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++
  }
  const scanString = (): boolean => {
    i++ // opening quote
    while (i < n) {
      const c = s.charCodeAt(i)
      if (c === 0x22) {
        i++
        return true
      }
      if (c < 0x20) return false
      if (c === 0x5c) {
        const e = s[i + 1]
        if (e === undefined) {
          i++
          return false
        }
        if (e === 'u') {
          for (let k = 2; k < 6; k++) {
            if (!/[0-9a-fA-F]/.test(s[i + k] ?? '')) {
              i += k
              return false
            }
          }
          i += 6
          continue
        }
        if (!'"\\/bfnrt'.includes(e)) {
          i++
          return false
        }
        i += 2
        continue
      }
      i++
    }
    return false
  }
  const scanNumber = (): boolean => {
    if (s[i] === '-') i++
    if (s[i] === '0') i++
    else if (s[i] !== undefined && s[i] >= '1' && s[i] <= '9') while (s[i] >= '0' && s[i] <= '9') i++
    else return false
    if (s[i] === '.') {
      i++
      if (!(s[i] >= '0' && s[i] <= '9')) return false
      while (s[i] >= '0' && s[i] <= '9') i++
    }
    if (s[i] === 'e' || s[i] === 'E') {
      i++
      if (s[i] === '+' || s[i] === '-') i++
      if (!(s[i] >= '0' && s[i] <= '9')) return false
      while (s[i] >= '0' && s[i] <= '9') i++
    }
    return true
  }
  // Scans one value start; returns false on error. Containers push onto the stack.
  const scanValueStart = (): boolean => {
    const c = s[i]
    if (c === '{') {
      i++
      stack.push({ close: '}', state: 'first' })
      return true
    }
    if (c === '[') {
      i++
      stack.push({ close: ']', state: 'first' })
      return true
    }
    if (c === '"') return scanString()
    if (c === '-' || (c >= '0' && c <= '9')) return scanNumber()
    for (const word of ['true', 'false', 'null']) {
      if (c === word[0]) {
        for (let k = 0; k < word.length; k++) {
          if (s[i] !== word[k]) return false
          i++
        }
        return true
      }
    }
    return false
  }

  ws()
  if (!scanValueStart()) return i
  while (stack.length > 0) {
    ws()
    const top = stack[stack.length - 1]
    const c = s[i]
    if (top.close === ']') {
      if ((top.state === 'first' || top.state === 'comma') && c === ']') {
        stack.pop()
        i++
        continue
      }
      if (top.state === 'comma') {
        if (c !== ',') return i
        i++
        top.state = 'value'
        continue
      }
      // 'first' or 'value' (after a comma, so `[1,]` fails here): a value must follow. The
      // state moves on before a nested container is pushed, so its close lands in 'comma'.
      top.state = 'comma'
      if (!scanValueStart()) return i
      continue
    }
    // Object.
    if (top.state === 'first' && c === '}') {
      stack.pop()
      i++
      continue
    }
    if (top.state === 'first' || top.state === 'key') {
      if (c !== '"' || !scanString()) return i
      top.state = 'colon'
      continue
    }
    if (top.state === 'colon') {
      if (c !== ':') return i
      i++
      top.state = 'comma'
      ws()
      if (!scanValueStart()) return i
      continue
    }
    // 'comma'
    if (c === '}') {
      stack.pop()
      i++
      continue
    }
    if (c !== ',') return i
    i++
    top.state = 'key'
  }
  ws()
  return i < n ? i : undefined
}

/**
 * application/json.
 *
 * Empty payloads: STMP allows an empty PAYLOAD (§5), and servers send one for actions that
 * return nothing. An empty or whitespace-only payload decodes to `null` (the JSON "nothing",
 * printable in NDJSON), `encode(undefined)` gives an empty payload, and `fromText('')`
 * (no data given) too. `encode(null)` gives the 4 bytes `null`: an explicit null is kept.
 */
export class JsonCodec implements PayloadCodec {
  readonly name = 'json' as const
  readonly contentType = 'application/json'

  encode(value: unknown): Buffer {
    if (value === undefined) return Buffer.alloc(0)
    let text: string | undefined
    try {
      text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? toJsonSafe(v) : v))
    } catch (err) {
      // Circular structures.
      throw new StmpError('BAD_PAYLOAD', `cannot encode the payload as JSON: ${(err as Error).message}`, { cause: err })
    }
    if (text === undefined) throw new StmpError('BAD_PAYLOAD', `cannot encode a ${typeof value} as JSON`)
    return Buffer.from(text, 'utf8')
  }

  decode(bytes: Buffer): unknown {
    const text = decodeUtf8(bytes, 'JSON payload')
    if (text.trim() === '') return null
    return parseJson(text)
  }

  /**
   * The text is checked and then sent unchanged (not re-serialised), so that what the user
   * wrote is what goes on the wire: integers beyond 2^53 keep all their digits.
   */
  fromText(input: string | Buffer): Buffer {
    const text = typeof input === 'string' ? input : decodeUtf8(input, 'JSON data')
    if (text.trim() === '') return Buffer.alloc(0)
    parseJson(text, 'JSON data')
    return typeof input === 'string' ? Buffer.from(input, 'utf8') : input
  }
}
