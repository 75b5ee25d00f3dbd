import { isUtf8 } from 'node:buffer'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkJsonBytes, JSON_INVALID, JSON_MULTI_LINE, JSON_ONE_LINE } from '../../src/lib/render/json-bytes.js'

/** The reference: what JSON.parse says of the UTF-8 text. */
function reference(bytes: Buffer): number {
  if (!isUtf8(bytes)) return JSON_INVALID
  try {
    JSON.parse(bytes.toString('utf8'))
  } catch {
    return JSON_INVALID
  }
  return /[\r\n]/.test(bytes.toString('utf8')) ? JSON_MULTI_LINE : JSON_ONE_LINE
}

const check = (text: string | Buffer) => checkJsonBytes(Buffer.isBuffer(text) ? text : Buffer.from(text))

describe('checkJsonBytes', () => {
  it('accepts JSON texts and rejects the rest, like JSON.parse', () => {
    for (const good of ['0', '-0', '1.5e+3', '-12.25E-2', '"a\\u00e9\\n"', 'true', 'false', 'null', '[]', '{}', ' [1, {"a": [null]}] ', '{"é":"ü"}', '"\\/"']) {
      expect(check(good), good).toBe(JSON_ONE_LINE)
    }
    expect(check('{\n"a": 1\r\n}')).toBe(JSON_MULTI_LINE)
    for (const bad of ['', ' ', '01', '1.', '.5', '1e', '+1', '-', '"a', '"\\x"', '"\\u12g4"', '"\t"', 'tru', 'nul', '[1,]', '{"a":1,}', '{"a"}', '{1:2}', '[1 2]', '{} {}', '[', ']', '{"a":1', 'NaN', "'a'", '[1]]']) {
      expect(check(bad), bad).toBe(JSON_INVALID)
    }
    expect(check(Buffer.from([0x22, 0xff, 0x22]))).toBe(JSON_INVALID)
    expect(check(Buffer.from([0x22, 0xc3, 0xa9, 0x22]))).toBe(JSON_ONE_LINE)
  })

  it('agrees with JSON.parse on serialised random values, with random whitespace', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.constantFrom('', ' ', '\n', '\t', '\r\n'), (value, space) => {
      const text = JSON.stringify(value, null, space === '' ? undefined : space)
      const bytes = Buffer.from(text)
      expect(checkJsonBytes(bytes)).toBe(reference(bytes))
    }), { numRuns: 500 })
  })

  it('agrees with JSON.parse on random and mutated inputs', () => {
    const alphabet = fc.constantFrom(...'{}[]",:0123456789-+.eEtrufalsn \\u\n\tab'.split(''))
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 24 }), (chars) => {
      const bytes = Buffer.from(chars.join(''))
      expect(checkJsonBytes(bytes)).toBe(reference(bytes))
    }), { numRuns: 3000 })
    fc.assert(fc.property(fc.jsonValue(), fc.nat(), fc.integer({ min: 0, max: 255 }), (value, at, byte) => {
      const bytes = Buffer.from(JSON.stringify(value))
      if (bytes.length > 0) bytes[at % bytes.length] = byte
      expect(checkJsonBytes(bytes)).toBe(reference(bytes))
    }), { numRuns: 2000 })
  })

  it('checks a range of a larger buffer as if it stood alone (bytes around it are never read)', () => {
    // decode --json checks a payload in place, in the middle of a capture's bytes: the next frame's
    // bytes (`.5`, `e3`, `ue`, `}`) must not complete a number, a literal or a container.
    for (const [text, after] of [['1', '.5'], ['1', 'e3'], ['-', '1'], ['tr', 'ue'], ['{"a":1', '}'], ['[', ']'], ['"a', '"'], ['{', '}'], ['0', '1']]) {
      const bytes = Buffer.from(`xx${text}${after}`)
      expect(checkJsonBytes(bytes, 2, 2 + text.length), `${text} before ${after}`).toBe(reference(Buffer.from(text)))
    }
    const alphabet = fc.constantFrom(...'{}[]",:0123456789-+.eEtrufalsn \\u\n\tab'.split(''))
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 24 }), fc.array(alphabet, { maxLength: 8 }), fc.array(alphabet, { maxLength: 8 }), (chars, before, after) => {
      const text = chars.join('')
      const bytes = Buffer.from(before.join('') + text + after.join(''))
      const start = Buffer.byteLength(before.join(''))
      expect(checkJsonBytes(bytes, start, start + Buffer.byteLength(text))).toBe(reference(Buffer.from(text)))
    }), { numRuns: 3000 })
  })
})
