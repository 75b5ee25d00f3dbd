import { describe, expect, it } from 'vitest'
import { Chalk } from 'chalk'
import { StmpProtocolError } from '../../src/lib/codec/index.js'
import { decodeBytes, summaryLine, DEFAULT_DECODE_OPTIONS, type DecodeEvent } from '../../src/lib/capture/decode-bytes.js'
import { colorLevel } from '../../src/lib/render/colors.js'
import { decodeEventJson, NdjsonWriter } from '../../src/lib/render/decode-ndjson.js'
import { DecodeTable } from '../../src/lib/render/decode-table.js'
import { clipText, payloadJson, payloadPreview } from '../../src/lib/render/preview.js'

const hex = (h: string) => Buffer.from(h.replace(/\s/g, ''), 'hex')

function decode(bytes: Buffer, options: Partial<typeof DEFAULT_DECODE_OPTIONS> = {}) {
  const events: DecodeEvent[] = []
  const summary = decodeBytes(bytes, { ...DEFAULT_DECODE_OPTIONS, ...options }, (e) => events.push(e))
  return { events, summary }
}

describe('decodeBytes', () => {
  it('reports frames and errors in input order and counts them', () => {
    const { events, summary } = decode(hex('03000007 0d1000016e6f2e6e65776c696e65 8080808001'))
    expect(events.map((e) => (e.type === 'frame' ? e.frame.kind : e.error.code))).toEqual(['ping', 'NO_ACTION_END', 'BAD_LENGTH'])
    expect(summary).toEqual({ bytes: 23, frames: 1, errors: 2, errorCodes: { NO_ACTION_END: 1, BAD_LENGTH: 1 } })
    expect(summaryLine({ ...summary, input: 'hex' })).toMatch(/^1 frame, 2 protocol errors \(NO_ACTION_END, BAD_LENGTH\) in 23 bytes of hex input$/)
  })

  it('a WebSocket message over --max-frame is TOO_LARGE at offset 0', () => {
    const { events } = decode(hex('100003726f6f6d2e6a6f696e0a7b7d'), { transport: 'websocket', maxFrameSize: 4 })
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ type: 'error', error: { code: 'TOO_LARGE', offset: 0 } })
  })

  it('rejects flag combinations the wire does not have, as BAD_FLAG', () => {
    expect(() => decode(Buffer.alloc(0), { format: 'text' })).toThrow(expect.objectContaining({ code: 'BAD_FLAG', exitCode: 2 }))
    expect(() => decode(Buffer.alloc(0), { transport: 'websocket', handshake: 'server' })).toThrow(expect.objectContaining({ code: 'BAD_FLAG' }))
    expect(() => decode(Buffer.alloc(0), { maxFrameSize: 0 })).toThrow(expect.objectContaining({ code: 'BAD_FLAG' }))
  })
})

describe('NDJSON', () => {
  it('a frame is frameToJson plus offset, length and payload when the payload is JSON', () => {
    const { events } = decode(hex('0e200002612e620a7b2278223a317d 0a200003612e620a7b2278'))
    expect(decodeEventJson(events[0])).toEqual({ kind: 'push', id: 2, action: 'a.b', payloadHex: '7b2278223a317d', follow: false, fin: false, offset: 0, length: 15, payload: { x: 1 } })
    expect(decodeEventJson(events[1])).not.toHaveProperty('payload')
  })

  it('an error is {error: {code, message, offset}}', () => {
    const error = new StmpProtocolError('BAD_KIND', 'unknown kind 5', 12)
    expect(decodeEventJson({ type: 'error', error })).toEqual({ error: { code: 'BAD_KIND', message: 'unknown kind 5', offset: 12 } })
  })

  it('source meta fields are added to the line', () => {
    const { events } = decode(hex('03000007'))
    expect(decodeEventJson({ ...events[0], meta: { direction: 'client' } })).toEqual({ kind: 'ping', id: 7, offset: 0, length: 4, direction: 'client' })
  })

  it('the writer batches lines and flushes every one of them', () => {
    const writes: string[] = []
    const out = new NdjsonWriter((t) => writes.push(t), 100)
    const { events } = decode(Buffer.concat(Array.from({ length: 50 }, () => hex('03000007'))))
    for (const e of events) out.event(e)
    out.flush()
    expect(writes.length).toBeGreaterThan(1)
    expect(writes.length).toBeLessThan(50)
    expect(writes.join('').trim().split('\n').map((l) => JSON.parse(l).offset)).toEqual(events.map((_, i) => i * 4))
  })
})

describe('payload preview', () => {
  const options = { width: 20, lines: 3 }

  it('pretty-prints JSON and trims it', () => {
    const p = payloadPreview(Buffer.from('{"a":1,"b":[1,2,3],"c":"x"}'), options)
    expect(p.kind).toBe('json')
    expect(p.text.split('\n')).toHaveLength(3)
    expect(p.text.split('\n')[0]).toBe('{')
  })

  it('shows printable text, and hex for binary or invalid UTF-8', () => {
    expect(payloadPreview(Buffer.from('no handler for x'), options)).toEqual({ kind: 'text', text: 'no handler for x' })
    expect(payloadPreview(Buffer.from([0xc3, 0x28, 0x01]), options)).toEqual({ kind: 'hex', text: 'c3 28 01' })
    const long = payloadPreview(Buffer.alloc(100, 0xab), options)
    expect(long.kind).toBe('hex')
    expect(long.text.split('\n')).toHaveLength(3)
    expect(long.text).toContain('100 bytes')
    expect(payloadPreview(Buffer.alloc(0), options).kind).toBe('empty')
  })

  it('never passes control characters through to the terminal', () => {
    expect(clipText('\u001b[31mred\u009b', { width: 40, lines: 1 })).toBe('\\x1b[31mred\\x9b')
    expect(payloadJson(Buffer.from('"\\u001b"'))).toEqual({ value: '\u001b' })
    expect(payloadPreview(Buffer.from('"\\u009b"'), { width: 40, lines: 2 }).text).toBe('"\\x9b"')
  })

  it('payloadJson: valid UTF-8 JSON only', () => {
    expect(payloadJson(Buffer.from(' [1, 2] '))).toEqual({ value: [1, 2] })
    expect(payloadJson(Buffer.from('0'))).toEqual({ value: 0 })
    expect(payloadJson(Buffer.from('hello'))).toBeUndefined()
    expect(payloadJson(Buffer.from('{"a":'))).toBeUndefined()
    expect(payloadJson(Buffer.from([0x22, 0xff, 0x22]))).toBeUndefined()
  })
})

describe('table', () => {
  it('one row per event, colours only when asked', () => {
    const { events } = decode(hex('03000007 0d1000016e6f2e6e65776c696e65'))
    const plain = new DecodeTable({ chalk: new Chalk({ level: 0 }), columns: 100 })
    const colour = new DecodeTable({ chalk: new Chalk({ level: 1 }), columns: 100 })
    for (const e of events) {
      plain.event(e)
      colour.event(e)
    }
    expect(plain.size).toBe(2)
    expect(plain.render()).not.toContain('\u001b[')
    expect(plain.render()).toContain('NO_ACTION_END')
    expect(colour.render()).toContain('\u001b[')
  })

  it('escapes control characters in actions and close messages', () => {
    const table = new DecodeTable({ chalk: new Chalk({ level: 0 }) })
    const { events } = decode(hex('0b1000011b5b326a780a7b7d 064003e81b5b4b'))
    for (const e of events) table.event(e)
    const out = table.render()
    expect(out).not.toContain('\u001b')
    expect(out).toContain('\\x1b[2jx')
    expect(out).toContain('\\x1b[K')
  })
})

describe('a large table', () => {
  // Frames of growing payloads (the widest rows come late, past the first piece), errors and
  // multi-line previews: drawn in pieces of 7 rows it is the same text as one table.
  const frames: Buffer[] = []
  for (let i = 0; i < 60; i++) {
    const body = Buffer.concat([Buffer.from([0x10, 0, i + 1]), Buffer.from(`a.${'x'.repeat(i % 13)}\n`), Buffer.from(JSON.stringify({ i, s: 'y'.repeat(i * 3), n: [1, 2, 3] }))])
    frames.push(Buffer.from([body.length]), body)
    if (i % 17 === 5) frames.push(hex('0d1000016e6f2e6e65776c696e65'))
  }
  const { events } = decode(Buffer.concat(frames))

  it.each([[0], [1]])('in pieces is the same text as one cli-table3 table (colour level %i)', (level) => {
    const whole = new DecodeTable({ chalk: new Chalk({ level: level as 0 | 1 }), columns: 140, chunkRows: Number.POSITIVE_INFINITY })
    const pieces = new DecodeTable({ chalk: new Chalk({ level: level as 0 | 1 }), columns: 140, chunkRows: 7 })
    for (const e of events) {
      whole.event(e)
      pieces.event(e)
    }
    expect(pieces.size).toBeGreaterThan(60)
    expect(pieces.render()).toBe(whole.render())
  })

  it('130,000 rows render (one cli-table3 table overflowed the call stack)', () => {
    const table = new DecodeTable({ chalk: new Chalk({ level: 0 }) })
    const ping = decode(hex('03000007')).events[0]
    for (let i = 0; i < 130_000; i++) table.event(ping)
    const out = table.render()
    expect(out.split('\n')).toHaveLength(130_000 * 2 + 3)
  }, 120_000)
})

describe('colorLevel', () => {
  it('FORCE_COLOR wins, then NO_COLOR, then the TTY', () => {
    expect(colorLevel(false, { FORCE_COLOR: '1' })).toBe(1)
    expect(colorLevel(false, { FORCE_COLOR: '' })).toBe(1)
    expect(colorLevel(true, { FORCE_COLOR: '0' })).toBe(0)
    expect(colorLevel(true, { FORCE_COLOR: 'false' })).toBe(0)
    expect(colorLevel(false, { FORCE_COLOR: '3', NO_COLOR: '1' })).toBe(3)
    expect(colorLevel(true, { NO_COLOR: '1' })).toBe(0)
    expect(colorLevel(false, {})).toBe(0)
  })
})
