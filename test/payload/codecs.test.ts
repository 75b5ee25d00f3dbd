import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  codecName,
  decodePayload,
  getPayloadCodec,
  jsonErrorPosition,
  toJsonSafe,
  type PayloadContext,
} from '../../src/lib/payload/index.js'
import { codeOf } from '../helpers/errors.js'

const ctx: PayloadContext = { action: 'room.join', role: 'request' }

/** What a JSON-like value is after a trip through JSON text (-0 becomes 0). */
function viaJson(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v))
}

describe('getPayloadCodec', () => {
  it('accepts the short names and the MIME types', () => {
    const pairs = [
      ['json', 'application/json'],
      ['msgpack', 'application/msgpack'],
      ['text', 'text/plain'],
      ['raw', 'application/octet-stream'],
    ] as const
    for (const [name, mime] of pairs) {
      expect(getPayloadCodec(name).name).toBe(name)
      expect(getPayloadCodec(name).contentType).toBe(mime)
      expect(getPayloadCodec(mime).name).toBe(name)
    }
    expect(codecName('protobuf')).toBe('protobuf')
    expect(codecName('application/protobuf')).toBe('protobuf')
    expect(codecName('Application/JSON; charset=utf-8')).toBe('json')
    expect(codecName('application/x-msgpack')).toBe('msgpack')
  })

  it('rejects unknown names with BAD_FLAG', () => {
    expect(codeOf(() => getPayloadCodec('xml'))).toBe('BAD_FLAG')
    expect(codeOf(() => getPayloadCodec('application/xml'))).toBe('BAD_FLAG')
    expect(codeOf(() => getPayloadCodec(''))).toBe('BAD_FLAG')
  })

  it('protobuf without .proto files is BAD_FLAG', () => {
    expect(codeOf(() => getPayloadCodec('protobuf'))).toBe('BAD_FLAG')
  })
})

describe('json', () => {
  const json = getPayloadCodec('json')

  it('round-trips a value', () => {
    const v = { name: 'lobby', users: ['a', 'b'], n: 3, ok: true, nested: { x: null } }
    const bytes = json.encode(v, ctx)
    expect(bytes.toString('utf8')).toBe(JSON.stringify(v))
    expect(json.decode(bytes, ctx)).toEqual(v)
  })

  it('empty payload: decodes to null; undefined and empty text encode to no bytes; null is kept', () => {
    expect(json.decode(Buffer.alloc(0), ctx)).toBeNull()
    expect(json.decode(Buffer.from(' \n'), ctx)).toBeNull()
    expect(json.encode(undefined, ctx).length).toBe(0)
    expect(json.fromText('', ctx).length).toBe(0)
    expect(json.encode(null, ctx).toString()).toBe('null')
  })

  it('bad JSON is BAD_PAYLOAD, from the wire and from the CLI', () => {
    expect(codeOf(() => json.decode(Buffer.from('{"a":}'), ctx))).toBe('BAD_PAYLOAD')
    expect(codeOf(() => json.decode(Buffer.from([0xff, 0xfe]), ctx))).toBe('BAD_PAYLOAD')
    expect(codeOf(() => json.fromText('{"a":1', ctx))).toBe('BAD_PAYLOAD')
    expect(codeOf(() => json.fromText("{'a':1}", ctx))).toBe('BAD_PAYLOAD')
    const circular: Record<string, unknown> = {}
    circular.self = circular
    expect(codeOf(() => json.encode(circular, ctx))).toBe('BAD_PAYLOAD')
    expect(codeOf(() => json.encode(() => 1, ctx))).toBe('BAD_PAYLOAD')
  })

  it('fromText sends the text unchanged, so big integers keep their digits', () => {
    const text = '{"id": 12345678901234567890}'
    expect(json.fromText(text, ctx).toString('utf8')).toBe(text)
    expect(json.fromText(Buffer.from(text), ctx).toString('utf8')).toBe(text)
  })

  it('reports where the JSON breaks', () => {
    expect(jsonErrorPosition('{"a":}')).toEqual({ offset: 5, line: 1, column: 6 })
    expect(jsonErrorPosition('{\n  "a": 1,\n  "b": tru\n}')).toEqual({ offset: 22, line: 3, column: 11 })
    expect(jsonErrorPosition('[1,]')).toEqual({ offset: 3, line: 1, column: 4 })
    expect(jsonErrorPosition('[1, 2')).toEqual({ offset: 5, line: 1, column: 6 })
    expect(jsonErrorPosition('{"a":1} x')).toEqual({ offset: 8, line: 1, column: 9 })
    expect(jsonErrorPosition('"\\x"')).toEqual({ offset: 2, line: 1, column: 3 })
    expect(jsonErrorPosition('01')).toEqual({ offset: 1, line: 1, column: 2 })
    expect(jsonErrorPosition('{"a":[1,{"b":[true,false,null,-1.5e3,"\\u00e9"]}]}')).toBeUndefined()
    expect(jsonErrorPosition('['.repeat(100_000))).toEqual({ offset: 100_000, line: 1, column: 100_001 })
  })

  it('jsonErrorPosition agrees with JSON.parse on random text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string({ unit: fc.constantFrom(...'{}[]",:0-1.e tnrufalse\\'.split('')) })), (text) => {
        let valid = true
        try {
          JSON.parse(text)
        } catch {
          valid = false
        }
        const pos = jsonErrorPosition(text)
        expect(pos === undefined).toBe(valid)
        if (pos !== undefined) expect(pos.offset).toBeLessThanOrEqual(text.length)
      }),
      { numRuns: 2000 },
    )
  })

  it('property: decode(encode(v)) equals v for JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(json.decode(json.encode(v, ctx), ctx)).toEqual(viaJson(v))
      }),
    )
  })
})

describe('msgpack', () => {
  const msgpack = getPayloadCodec('msgpack')

  it('round-trips and packs plain maps (no msgpackr records)', () => {
    const v = { a: 1, b: [true, null, 'x'], c: { d: 1.5 } }
    const bytes = msgpack.encode(v, ctx)
    // fixmap of 3 entries, first key "a" as fixstr: readable by any MessagePack implementation.
    expect(bytes.subarray(0, 3).toString('hex')).toBe('83a161')
    expect(msgpack.decode(bytes, ctx)).toEqual(v)
  })

  it('keeps a __proto__ key (msgpackr alone would rename it)', () => {
    const v = JSON.parse('{"__proto__": {"a": [1]}, "b": 2}') as unknown
    expect(JSON.stringify(msgpack.decode(msgpack.encode(v, ctx), ctx))).toBe('{"__proto__":{"a":[1]},"b":2}')
    // map {1: "x", true: "y"}: non-string keys print as their JSON text
    expect(msgpack.decode(Buffer.from('8201a178c3a179', 'hex'), ctx)).toEqual({ 1: 'x', true: 'y' })
  })

  it('fromText parses JSON then packs', () => {
    expect(msgpack.fromText('{"a":1}', ctx).toString('hex')).toBe('81a16101')
    expect(msgpack.fromText('', ctx).length).toBe(0)
    expect(codeOf(() => msgpack.fromText('{a:1}', ctx))).toBe('BAD_PAYLOAD')
  })

  it('decodes to JSON-printable values: int64, bin, NaN', () => {
    // uint64 2^60, bin8 "hi", float64 NaN
    const big = Buffer.from('cf1000000000000000', 'hex')
    expect(msgpack.decode(big, ctx)).toBe('1152921504606846976')
    expect(msgpack.decode(Buffer.from('c4026869', 'hex'), ctx)).toBe('aGk=')
    expect(msgpack.decode(Buffer.from('cb7ff8000000000000', 'hex'), ctx)).toBe('NaN')
    expect(msgpack.decode(Buffer.alloc(0), ctx)).toBeNull()
  })

  it('bad MessagePack is BAD_PAYLOAD', () => {
    expect(codeOf(() => msgpack.decode(Buffer.from([0x92, 0x01]), ctx))).toBe('BAD_PAYLOAD') // truncated array
    expect(codeOf(() => msgpack.decode(Buffer.from([0x01, 0x02]), ctx))).toBe('BAD_PAYLOAD') // trailing byte
    expect(codeOf(() => msgpack.encode(2n ** 70n, ctx))).toBe('BAD_PAYLOAD')
  })

  it('property: decode(encode(v)) equals v for JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(msgpack.decode(msgpack.encode(v, ctx), ctx)).toEqual(viaJson(v))
      }),
    )
  })
})

describe('text and raw', () => {
  const text = getPayloadCodec('text/plain')
  const raw = getPayloadCodec('application/octet-stream')

  it('text round-trips UTF-8 and rejects what is not a string or not UTF-8', () => {
    expect(text.decode(text.encode('héllo ✓', ctx), ctx)).toBe('héllo ✓')
    expect(text.fromText('a b', ctx).toString('hex')).toBe('612062')
    expect(codeOf(() => text.encode(42, ctx))).toBe('BAD_PAYLOAD')
    expect(codeOf(() => text.decode(Buffer.from([0xc3]), ctx))).toBe('BAD_PAYLOAD')
    expect(codeOf(() => text.fromText(Buffer.from([0xff]), ctx))).toBe('BAD_PAYLOAD')
  })

  it('raw keeps bytes as they are', () => {
    const bytes = Buffer.from([0, 255, 10, 13])
    expect(raw.decode(raw.encode(bytes, ctx), ctx)).toEqual(bytes)
    expect(raw.fromText(bytes, ctx)).toEqual(bytes)
    expect(raw.fromText('é', ctx).toString('hex')).toBe('c3a9')
    expect(raw.encode(new Uint8Array([1, 2]), ctx).toString('hex')).toBe('0102')
    expect(codeOf(() => raw.encode({ a: 1 }, ctx))).toBe('BAD_PAYLOAD')
  })

  it('property: text and raw round-trip', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.uint8Array(), (s, b) => {
        expect(text.decode(text.fromText(s, ctx), ctx)).toBe(s)
        expect([...(raw.decode(raw.encode(b, ctx), ctx) as Buffer)]).toEqual([...b])
      }),
    )
  })
})

describe('decodePayload (wire notes §9)', () => {
  it('a non-2xx response payload is a UTF-8 message whatever the content type', () => {
    const msgpack = getPayloadCodec('msgpack')
    const res = { action: 'a.b', role: 'response' as const }
    expect(decodePayload(msgpack, Buffer.from('no handler'), { ...res, status: 404 })).toBe('no handler')
    expect(decodePayload(msgpack, Buffer.from('81a16101', 'hex'), { ...res, status: 200 })).toEqual({ a: 1 })
  })
})

describe('toJsonSafe', () => {
  it('makes bigints, bytes, maps, sets, dates and non-finite numbers printable', () => {
    const out = toJsonSafe({
      small: 5n,
      big: 2n ** 64n,
      bytes: Buffer.from('hi'),
      map: new Map<unknown, unknown>([['k', 1], [2, 'two']]),
      set: new Set([1]),
      date: new Date(0),
      inf: -Infinity,
      gone: undefined,
      list: [undefined, NaN],
    })
    expect(out).toEqual({
      small: 5,
      big: '18446744073709551616',
      bytes: 'aGk=',
      map: { k: 1, 2: 'two' },
      set: [1],
      date: '1970-01-01T00:00:00.000Z',
      inf: '-Infinity',
      list: [null, 'NaN'],
    })
    expect(() => JSON.stringify(out)).not.toThrow()
  })

  it('keeps a __proto__ key as data', () => {
    const out = toJsonSafe(JSON.parse('{"__proto__": {"x": 1}}')) as Record<string, unknown>
    expect(Object.keys(out)).toEqual(['__proto__'])
    expect(JSON.stringify(out)).toBe('{"__proto__":{"x":1}}')
  })
})
