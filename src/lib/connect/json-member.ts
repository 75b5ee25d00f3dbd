/**
 * The source text of one top-level member of a JSON object, so that `connect` sends a payload
 * as the user wrote it (integers beyond 2^53 keep every digit, as JsonCodec.fromText does)
 * instead of JSON.stringify(JSON.parse(...)).
 *
 * Only for text that JSON.parse already accepted: the scan trusts the syntax and only tracks
 * strings and nesting. Returns undefined when the key is absent, or when any top-level key is
 * written with an escape (it could spell `key`; the caller then falls back to the parsed value).
 * Like JSON.parse, the last of duplicate keys wins.
 */
export function rawMember(text: string, key: string): string | undefined {
  const n = text.length
  let i = skipSpace(text, 0)
  if (text.charCodeAt(i) !== 0x7b /* { */) return undefined
  i = skipSpace(text, i + 1)
  let found: string | undefined
  while (i < n && text.charCodeAt(i) === 0x22 /* " */) {
    const keyEnd = skipString(text, i)
    const name = text.slice(i + 1, keyEnd - 1)
    if (name.includes('\\')) return undefined
    i = skipSpace(text, skipSpace(text, keyEnd) + 1) // past the colon
    const valueStart = i
    i = skipValue(text, i)
    if (name === key) found = text.slice(valueStart, i)
    i = skipSpace(text, i)
    if (text.charCodeAt(i) === 0x2c /* , */) i = skipSpace(text, i + 1)
  }
  return found
}

function skipSpace(text: string, from: number): number {
  let i = from
  for (;;) {
    const c = text.charCodeAt(i)
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return i
    i++
  }
}

/** `from` is at the opening quote; returns the index after the closing one. */
function skipString(text: string, from: number): number {
  let i = from + 1
  for (;;) {
    const c = text.charCodeAt(i)
    if (c === 0x5c /* \ */) i += 2
    else if (c === 0x22 || Number.isNaN(c)) return i + 1
    else i++
  }
}

function skipValue(text: string, from: number): number {
  const first = text.charCodeAt(from)
  if (first === 0x22) return skipString(text, from)
  if (first === 0x7b || first === 0x5b /* { [ */) {
    let depth = 0
    let i = from
    for (;;) {
      const c = text.charCodeAt(i)
      if (Number.isNaN(c)) return i
      if (c === 0x22) {
        i = skipString(text, i)
        continue
      }
      if (c === 0x7b || c === 0x5b) depth++
      else if (c === 0x7d || c === 0x5d) {
        depth--
        if (depth === 0) return i + 1
      }
      i++
    }
  }
  // A number or true / false / null: up to the next delimiter.
  let i = from
  for (;;) {
    const c = text.charCodeAt(i)
    if (Number.isNaN(c) || c === 0x2c || c === 0x7d || c === 0x5d || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) return i
    i++
  }
}
