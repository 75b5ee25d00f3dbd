import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeFrame, type Frame } from '../../src/lib/codec/index.js'
import { readCachedUtf8, utf8Length, writeUtf8 } from '../../src/lib/codec/utf8.js'

/** The codec's hot-path helpers (utf8.ts) give exactly what Buffer's own functions give. */
describe('codec fast paths', () => {
  it('readCachedUtf8 returns the bytes\' string however actions alternate and collide', () => {
    const actions = fc.array(fc.oneof(fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 70 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 })), { minLength: 1, maxLength: 40 })
    fc.assert(fc.property(actions, fc.array(fc.nat(), { maxLength: 200 }), (list, order) => {
      const buffers = list.map((a) => Buffer.from(`xx${a}yy`, 'utf8'))
      for (const k of [...order, ...list.keys()]) {
        const b = buffers[k % buffers.length]
        expect(readCachedUtf8(b, 2, b.length - 2, 0, 'action')).toBe(list[k % list.length])
      }
    }), { numRuns: 300 })
  })

  it('same-length actions that differ in one byte stay apart', () => {
    const a = Buffer.from('chat.say')
    const b = Buffer.from('chat.sax')
    for (let i = 0; i < 3; i++) {
      expect(readCachedUtf8(a, 0, a.length, 0, 'action')).toBe('chat.say')
      expect(readCachedUtf8(b, 0, b.length, 0, 'action')).toBe('chat.sax')
    }
  })

  it('bad UTF-8 is BAD_UTF8 even after valid text of the same length was cached', () => {
    const good = Buffer.from('ab')
    readCachedUtf8(good, 0, 2, 0, 'action')
    expect(() => readCachedUtf8(Buffer.from([0xc3, 0x28]), 0, 2, 5, 'action')).toThrow(expect.objectContaining({ code: 'BAD_UTF8', offset: 5 }))
  })

  it('utf8Length and writeUtf8 agree with Buffer for any string', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.string({ unit: 'binary-ascii', maxLength: 80 })), (text) => {
      expect(utf8Length(text)).toBe(Buffer.byteLength(text, 'utf8'))
      const out = Buffer.alloc(utf8Length(text) + 4, 0xee)
      expect(writeUtf8(out, 2, text)).toBe(Buffer.byteLength(text, 'utf8'))
      expect(out.subarray(2, out.length - 2).equals(Buffer.from(text, 'utf8'))).toBe(true)
      expect([out[0], out[1], out[out.length - 2], out[out.length - 1]]).toEqual([0xee, 0xee, 0xee, 0xee])
    }), { numRuns: 500 })
  })

  it('encoding a number out of 0..65535 is a RangeError, as writeUInt16BE made it', () => {
    const bad: Frame[] = [
      { kind: 'ping', id: 65536 },
      { kind: 'request', id: -1, action: 'a', payload: Buffer.alloc(0), follow: false, fin: false },
      { kind: 'response', id: 1, status: 1.5, latency: null, payload: Buffer.alloc(0), follow: false, fin: false },
      { kind: 'close', status: 70000, message: '' },
    ]
    for (const frame of bad) expect(() => encodeFrame(frame)).toThrow(RangeError)
  })

  it('a payload is written where it belongs, views included', () => {
    const big = Buffer.from('0123456789abcdef')
    const frame: Frame = { kind: 'push', id: 9, action: 'x', payload: big.subarray(4, 10), follow: false, fin: false }
    const bytes = encodeFrame(frame, { framing: 'websocket', format: 'binary', serverLatency: false })
    expect(bytes.toString('hex')).toBe(`200009780a${Buffer.from('456789').toString('hex')}`)
    expect(decodeMessage(bytes, { format: 'binary', serverLatency: false })).toMatchObject({ action: 'x', payload: Buffer.from('456789') })
  })
})
