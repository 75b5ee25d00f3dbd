import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  readLength, StreamDecoder, encodeFragmented, encodeFrame, encodeHandshakeRequest, frameToJson,
  type Frame, type FrameOptions, type LostFrame, type StmpProtocolError,
} from '../../src/lib/codec/index.js'

/**
 * StreamDecoder#gap: bytes missing from a stream (a capture gap). Decoding resumes only where the
 * gap ends inside a frame whose LENGTH, head and id came before it; everything else stops the
 * stream. Checked against the same stream decoded whole.
 */

const NUM_RUNS = Number(process.env.STMP_PROPERTY_RUNS ?? 300)
const OPTS: FrameOptions = { framing: 'stream', format: 'binary', serverLatency: false }

interface Decoded { frames: { json: Record<string, unknown>; offset: number; length: number }[]; errors: StmpProtocolError[]; lost?: LostFrame }

function decoder(out: Decoded, options = {}): StreamDecoder {
  return new StreamDecoder((frame, offset, length) => out.frames.push({ json: frameToJson(frame), offset, length }), (err) => out.errors.push(err), { continueAfterError: true, ...options })
}

/** Feeds bytes in pieces of at most `piece` bytes. */
function feed(d: StreamDecoder, bytes: Buffer, piece: number): void {
  for (let at = 0; at < bytes.length; at += piece) d.write(bytes.subarray(at, at + piece))
}

const payload = fc.uint8Array({ maxLength: 300, size: 'max' }).map((a) => Buffer.from(a))
const message = fc.record({
  kind: fc.constantFrom('request' as const, 'push' as const, 'response' as const),
  id: fc.integer({ min: 0, max: 0xffff }),
  payload,
})
const item = fc.oneof(
  message.map((m): Frame => (m.kind === 'response'
    ? { kind: 'response', id: m.id, status: 200, latency: null, payload: m.payload, follow: false, fin: false }
    : { kind: m.kind, id: m.id, action: 'a.b', payload: m.payload, follow: false, fin: false })),
  fc.integer({ min: 0, max: 0xffff }).map((id): Frame => ({ kind: 'ping', id })),
)
/** A stream of frames, some messages fragmented (fragment size 40, so mostly several frames each). */
const stream = fc.array(fc.tuple(item, fc.boolean()), { minLength: 1, maxLength: 8, size: 'max' }).map((items) => {
  const seen = new Set<string>()
  return Buffer.concat(items.flatMap(([frame, fragment]) => {
    // Fragmented messages are matched by kind and id: keep those unique.
    const key = `${frame.kind}/${'id' in frame ? frame.id : ''}`
    if (!fragment || frame.kind === 'ping' || frame.kind === 'close' || seen.has(key)) return [encodeFrame(frame, OPTS)]
    seen.add(key)
    return encodeFragmented(frame as Extract<Frame, { payload: Buffer }>, OPTS, 40)
  }))
})

describe('StreamDecoder#gap', () => {
  it('resumes after the lost frame exactly when the gap ends inside a frame whose first bytes it saw; else stops', () => {
    const input = stream.chain((bytes) => fc.record({
      bytes: fc.constant(bytes),
      from: fc.integer({ min: 0, max: bytes.length - 1 }),
      size: fc.integer({ min: 1, max: 400 }),
      piece: fc.integer({ min: 1, max: 64 }),
    }))
    fc.assert(fc.property(input, ({ bytes, from, size, piece }) => {
      const to = Math.min(bytes.length, from + size)
      const whole: Decoded = { frames: [], errors: [] }
      const ref = decoder(whole)
      ref.write(bytes)
      ref.end()
      expect(whole.errors).toEqual([])

      const cut: Decoded = { frames: [], errors: [] }
      const d = decoder(cut)
      feed(d, bytes.subarray(0, from), piece)
      cut.lost = d.gap(to - from)
      feed(d, bytes.subarray(to), piece)
      d.end()

      const hit = whole.frames.find((f) => f.offset <= from && from < f.offset + f.length) as Decoded['frames'][number]
      const lengthSize = { size: 0 }
      readLength(bytes, hit.offset, bytes.length, lengthSize)
      const resumable = from >= hit.offset + lengthSize.size + 3 && to <= hit.offset + hit.length
      expect(cut.errors).toEqual([])
      if (resumable) {
        const json = hit.json as { kind: string; id: number; follow?: boolean; fin?: boolean }
        const message = json.kind === 'ping' ? undefined : { kind: json.kind, id: json.id, follow: json.follow, fin: json.fin }
        expect(cut.lost).toEqual({ offset: hit.offset, end: hit.offset + hit.length, message })
        expect(cut.frames).toEqual(whole.frames.filter((f) => f !== hit))
      } else {
        expect(cut.lost).toBeUndefined()
        expect(d.failed).toBe(true)
        expect(cut.frames).toEqual(whole.frames.filter((f) => f.offset + f.length <= from))
      }
    }), { numRuns: NUM_RUNS * 4 })
  })

  it('a gap inside a frame skipped as TOO_LARGE loses nothing more; one past its end stops the stream', () => {
    const big = encodeFrame({ kind: 'push', id: 1, action: 'big', payload: Buffer.alloc(500, 1), follow: false, fin: false }, OPTS)
    const after = encodeFrame({ kind: 'ping', id: 2 }, OPTS)
    const bytes = Buffer.concat([big, after])
    for (const [from, to, resumes] of [[10, 400, true], [10, big.length, true], [10, big.length + 1, false]] as const) {
      const out: Decoded = { frames: [], errors: [] }
      const d = decoder(out, { maxFrameSize: 100 })
      d.write(bytes.subarray(0, from))
      out.lost = d.gap(to - from)
      d.write(bytes.subarray(to))
      d.end()
      expect(out.errors.map((e) => e.code)).toEqual(['TOO_LARGE'])
      if (resumes) {
        expect(out.lost).toEqual({ offset: 0, end: big.length, tooLarge: true })
        expect(out.frames).toEqual([{ json: { kind: 'ping', id: 2 }, offset: big.length, length: after.length }])
      } else {
        expect(out.lost).toBeUndefined()
        expect(out.frames).toEqual([])
      }
    }
  })

  it('a gap inside the handshake stops the stream: the options the rest depends on are lost', () => {
    const hs = encodeHandshakeRequest({ url: '/?stmp_server_latency=1', headers: {} })
    const bytes = Buffer.concat([hs, encodeFrame({ kind: 'ping', id: 2 }, OPTS)])
    const out: Decoded = { frames: [], errors: [] }
    const d = decoder(out, { handshake: 'client' })
    d.write(bytes.subarray(0, 6))
    expect(d.gap(4)).toBeUndefined()
    d.write(bytes.subarray(10))
    d.end()
    expect(out.frames).toEqual([])
    expect(out.errors).toEqual([])
  })
})
