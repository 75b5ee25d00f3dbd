import { describe, expect, it } from 'vitest'
import { LineSplitter } from '../../src/lib/codec/lines.js'

describe('LineSplitter (codec/lines.ts, shared by the line-based dialects)', () => {
  it('splits at a newline across chunks with exact offsets, dropping a CR and empty lines', () => {
    const got: [string, number][] = []
    const s = new LineSplitter(100, (l, o) => got.push([l.toString(), o]))
    s.write(Buffer.from('ab\r\n\ncd'))
    s.write(Buffer.from('e\nf'))
    expect(got).toEqual([['ab', 0], ['cde', 5]])
    expect(s.buffered).toBe(1)
  })

  it('a multi-byte terminator split across chunks still ends the line', () => {
    const got: [string, number][] = []
    const s = new LineSplitter(100, (l, o) => got.push([l.toString(), o]), '||')
    s.write(Buffer.from('{"a":1}|'))
    s.write(Buffer.from('|{"b":2}||'))
    expect(got).toEqual([['{"a":1}', 0], ['{"b":2}', 9]])
  })

  it('a line over the limit is TOO_LARGE; feed() reports it and end() reports a cut line as TRUNCATED', () => {
    const errors: string[] = []
    const s = new LineSplitter(4, () => undefined)
    s.feed(Buffer.from('123456\n'), 0, (e) => errors.push(e.code))
    const t = new LineSplitter(100, () => undefined)
    t.feed(Buffer.from('abc'), 10, (e) => errors.push(e.code))
    t.end('close', (e) => errors.push(`${e.code}@${e.offset}`))
    expect(errors).toEqual(['TOO_LARGE', 'TRUNCATED@10'])
  })
})
