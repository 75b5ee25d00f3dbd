import { describe, expect, it } from 'vitest'
import { decodeDialectBytes } from '../../../src/lib/capture/dialect.js'
import { loadDialect } from '../../../src/lib/dialects/registry.js'
import type { DecodedFrame } from '../../../src/lib/dialects/types.js'
import { BinaryReader, MSG, encodeBinary, type BinaryMessage } from '../../../src/lib/dialects/sockhop/codec.js'
import { directionBytes, transcriptReads } from './transcript.js'

/**
 * Sockhop 2.x: the binary frames of the wire notes' examples, and every read of the real 2.1.0
 * transcript (fixtures/sockhop/sockhop_v2_unix.log) through the dialect's capture decoder: the
 * JSON handshake, the transition line, then the binary frames, per direction.
 */
describe('sockhop 2.x binary frames', () => {
  it('the transcript is what the notes say: 19 reads, each byte count as logged', () => {
    const reads = transcriptReads()
    expect(reads).toHaveLength(19)
    expect(reads.map((r) => r.bytes.length).slice(0, 6)).toEqual([155, 155, 105, 105, 49, 49])
  })

  it.each<[string, BinaryMessage, string]>([
    ['send("hello")', { msgId: MSG.json, type: 'String', data: Buffer.from('"hello"') }, '120000000a06537472696e6707000000' + Buffer.from('"hello"').toString('hex')],
    ['a callback request', { msgId: MSG.jsonRequest, type: 'Object', data: Buffer.from('{"q":42}'), callbackId: 'a7d3fae9-2bed-410a-b950-a8911501f554' }, '370000000b064f626a65637408000000' + Buffer.from('{"q":42}a7d3fae9-2bed-410a-b950-a8911501f554').toString('hex')],
    ['a typed buffer', { msgId: MSG.buffer, type: 'Blob', data: Buffer.from('dead', 'hex') }, '0b0000000d04426c6f6202000000dead'],
  ])('%s encodes to the bytes of the notes and reads back', (_name, m, hex) => {
    const bytes = encodeBinary(m)
    expect(bytes.toString('hex')).toBe(hex)
    const got: BinaryMessage[] = []
    const reader = new BinaryReader(1 << 20, (x) => got.push(x))
    // One byte at a time: frames cut anywhere are joined.
    for (const b of bytes) reader.write(Buffer.from([b]))
    expect(got).toEqual([{ ...m, data: m.data }])
  })

  it('a frame over the limit is TOO_LARGE, an unknown id BAD_KIND, fields that do not add up BAD_FRAME (coded, not crashes)', () => {
    const reader = (max = 100) => new BinaryReader(max, () => undefined)
    expect(() => reader(10).write(Buffer.from('ff0000000a', 'hex'))).toThrow(expect.objectContaining({ code: 'TOO_LARGE' }))
    expect(() => reader().write(Buffer.from('010000000900', 'hex'))).toThrow(expect.objectContaining({ code: 'BAD_KIND' }))
    expect(() => reader().write(Buffer.from('060000000a044142434400', 'hex'))).toThrow(expect.objectContaining({ code: 'BAD_FRAME' }))
  })

  const decode = async (direction: 'client' | 'server') => {
    const frames: DecodedFrame[] = []
    const errors: unknown[] = []
    decodeDialectBytes(await loadDialect('sockhop'), directionBytes(direction), { framing: 'stream', direction, text: false }, (l) => {
      if (l.frame) frames.push(l.frame)
      else errors.push(l.error)
    })
    return { frames, errors }
  }

  it('the client side of the real 2.1.0 transcript: handshake, answer, transition, then binary frames; no errors', async () => {
    const { frames, errors } = await decode('client')
    expect(errors).toEqual([])
    expect(frames.map((f) => [f.kind, f.type, f.binary ?? false])).toEqual([
      ['handshake', 'SockhopHandshake', false],
      ['response', 'Object', false],
      ['binary-mode', 'SockhopBinaryModeTransition', false],
      ['push', 'String', true],
      ['push', 'Widget', true],
      ['request', 'Object', true],
      ['push', 'Buffer', true],
      ['push', 'Blob', true],
      ['ping', 'SockhopPing', true],
      ['ping', 'SockhopPing', true],
      ['ping', 'SockhopPing', true],
    ])
    expect(frames[5]).toMatchObject({ msgId: 11, uuid: 'a7d3fae9-2bed-410a-b950-a8911501f554', payload: Buffer.from('{"q":42}') })
    // Buffers as the JSON string of their base64 (2.x's JSON mode carries them so).
    expect(frames[6]).toMatchObject({ msgId: 13, buffer: true, payload: Buffer.from('"AQID"') })
    expect(frames[7]).toMatchObject({ msgId: 13, buffer: true, payload: Buffer.from(JSON.stringify(Buffer.from('dead', 'hex').toString('base64'))) })
    // Offsets run on across the mode switch: the first binary frame starts right after the 49-byte transition line.
    expect(frames[3].offset).toBe(155 + 105 + 49)
  })

  it('the server side: its handshake, its answer, its transition, the callback answer, pongs and a push of an Array', async () => {
    const { frames, errors } = await decode('server')
    expect(errors).toEqual([])
    expect(frames.map((f) => f.kind)).toEqual(['handshake', 'response', 'binary-mode', 'response', 'pong', 'pong', 'push', 'pong'])
    expect(frames[3]).toMatchObject({ msgId: 12, callbackId: 'a7d3fae9-2bed-410a-b950-a8911501f554', payload: Buffer.from('{"ok":true,"echo":{"q":42}}') })
    expect(frames[6]).toMatchObject({ type: 'Array', payload: Buffer.from('["x",1]') })
  })
})
