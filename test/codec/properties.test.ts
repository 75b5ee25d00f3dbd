import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ProtocolErrorCode, Reassembler, StmpProtocolError, StreamDecoder, decodeMessage, encodeFragmented, encodeFrame, stmpV3,
  encodeHandshakeRequest, encodeHandshakeResponse, frameToJson,
  type AnyFrame, type Format, type Frame, type FrameOptions, type Framing, type MessageFrame, type StreamDecoderOptions,
} from '../../src/lib/codec/index.js'

/**
 * Properties of the codec (style.md "Tests pin bytes"): what is encoded decodes to the same
 * frame in both formats and both framings; no input, however broken, makes a decoder throw
 * anything but a coded protocol error; fragmented messages reassemble, interleaved or not.
 */

const CODES = new Set<string>(Object.values(ProtocolErrorCode))
const NUM_RUNS = Number(process.env.STMP_PROPERTY_RUNS ?? 300)

// ---------------------------------------------------------------------------------------------
// Arbitraries

const id = fc.integer({ min: 0, max: 0xffff })
const u16 = fc.integer({ min: 0, max: 0xffff })
/** Unicode text (whole graphemes, so it survives UTF-8) and raw ASCII including controls. */
const text = (options: { minLength?: number; maxLength?: number } = {}) =>
  fc.oneof(fc.string({ unit: 'grapheme', ...options }), fc.string({ unit: 'binary-ascii', ...options }))
const action = text({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\n'))
const payload = fc.oneof(
  // size 'max': fast-check's default size keeps arrays to about ten items whatever maxLength says.
  fc.uint8Array({ maxLength: 200, size: 'max' }).map((a) => Buffer.from(a)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null', 'utf8')),
)

const requestFrame: fc.Arbitrary<Frame> = fc.record({
  kind: fc.constantFrom('request' as const, 'push' as const), id, action, payload, follow: fc.constant(false), fin: fc.constant(false),
})
const responseFrame = (serverLatency: boolean): fc.Arbitrary<Frame> => fc.record({
  kind: fc.constant('response' as const), id, status: u16, latency: serverLatency ? u16 : fc.constant(null), payload,
  follow: fc.constant(false), fin: fc.constant(false),
})
const pingFrame: fc.Arbitrary<Frame> = fc.record({ kind: fc.constant('ping' as const), id })
const closeFrame: fc.Arbitrary<Frame> = fc.record({ kind: fc.constant('close' as const), status: u16, message: text({ maxLength: 60 }) })
const anyFrame = (serverLatency: boolean) => fc.oneof(requestFrame, responseFrame(serverLatency), pingFrame, closeFrame)

/** Header keys and values as the decoder reports them: keys lower-case, values trimmed. */
const headerKey = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,15}$/)
const headerValue = text({ maxLength: 30 }).map((s) => s.replace(/\n/g, ' ').trim())
const handshakeRequest = fc.record({
  kind: fc.constant('handshake-request' as const),
  url: text({ minLength: 1, maxLength: 60 }).map((s) => `/${s.replace(/\n/g, '')}`),
  headers: fc.dictionary(headerKey, headerValue, { maxKeys: 4 }),
})
const handshakeResponse = fc.record({ kind: fc.constant('handshake-response' as const), status: u16, message: text({ maxLength: 40 }) })

interface Connection { framing: Framing; format: Format; serverLatency: boolean }
const connection: fc.Arbitrary<Connection> = fc.oneof(
  fc.record({ framing: fc.constant('stream' as const), format: fc.constant('binary' as const), serverLatency: fc.boolean() }),
  fc.record({ framing: fc.constant('websocket' as const), format: fc.constantFrom('binary' as const, 'text' as const), serverLatency: fc.boolean() }),
)

/** Cut points for feeding `bytes` in random pieces, one byte at a time included. */
const chunking = fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 12 })

function chunks(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let last = 0
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(last, p))
    last = p
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Decoding helpers

interface StreamResult { frames: { json: Record<string, unknown>; offset: number; length: number }[]; errors: StmpProtocolError[] }

function decodeStream(pieces: Buffer[], options: StreamDecoderOptions, result: StreamResult = { frames: [], errors: [] }): StreamResult {
  const decoder = new StreamDecoder(
    (frame, offset, length) => result.frames.push({ json: frameToJson(frame), offset, length }),
    (err) => result.errors.push(err),
    options,
  )
  for (const piece of pieces) decoder.write(piece)
  decoder.end()
  return result
}

function options(c: Connection): FrameOptions {
  return { framing: c.framing, format: c.format, serverLatency: c.serverLatency }
}

function expectCodedError(err: unknown): asserts err is StmpProtocolError {
  expect(err).toBeInstanceOf(StmpProtocolError)
  expect(CODES.has((err as StmpProtocolError).code)).toBe(true)
}

// ---------------------------------------------------------------------------------------------

describe('round trip: decode(encode(f)) equals f', () => {
  it('one frame of every kind, both formats, both framings, latency on and off', () => {
    fc.assert(fc.property(connection.chain((c) => fc.tuple(fc.constant(c), anyFrame(c.serverLatency), chunking)), ([c, frame, cuts]) => {
      const bytes = encodeFrame(frame, options(c))
      if (c.framing === 'websocket') {
        expect(frameToJson(decodeMessage(bytes, c))).toEqual(frameToJson(frame))
        return
      }
      const { frames, errors } = decodeStream(chunks(bytes, cuts), { serverLatency: c.serverLatency })
      expect(errors).toEqual([])
      expect(frames).toEqual([{ json: frameToJson(frame), offset: 0, length: bytes.length }])
    }), { numRuns: NUM_RUNS })
  })

  it('a stream of frames after a handshake, in random chunks', () => {
    const stream = fc.boolean().chain((serverLatency) => fc.record({
      serverLatency: fc.constant(serverLatency),
      handshake: fc.oneof(fc.constant(undefined), handshakeRequest, handshakeResponse),
      frames: fc.array(anyFrame(serverLatency), { maxLength: 8 }),
      cuts: chunking,
    }))
    fc.assert(fc.property(stream, ({ serverLatency, handshake, frames, cuts }) => {
      const all: AnyFrame[] = handshake ? [handshake, ...frames] : frames
      const encoded = all.map((f) => {
        if (f.kind === 'handshake-request') return encodeHandshakeRequest(f)
        if (f.kind === 'handshake-response') return encodeHandshakeResponse(f)
        return encodeFrame(f, { framing: 'stream', format: 'binary', serverLatency })
      })
      const side = handshake === undefined ? 'none' : handshake.kind === 'handshake-request' ? 'client' : 'server'
      const { frames: decoded, errors } = decodeStream(chunks(Buffer.concat(encoded), cuts), { serverLatency, handshake: side })
      expect(errors).toEqual([])
      expect(decoded.map((d) => d.json)).toEqual(all.map(frameToJson))
      // offsets and lengths tile the input exactly
      let offset = 0
      decoded.forEach((d, i) => {
        expect([d.offset, d.length]).toEqual([offset, encoded[i].length])
        offset += d.length
      })
    }), { numRuns: NUM_RUNS })
  })
})

// ---------------------------------------------------------------------------------------------
// Broken input

const validStream = fc.boolean().chain((serverLatency) => fc.array(anyFrame(serverLatency), { minLength: 1, maxLength: 5 }).map((frames) =>
  Buffer.concat(frames.map((f) => encodeFrame(f, { framing: 'stream', format: 'binary', serverLatency })))))
const validMessage = connection.chain((c) => anyFrame(c.serverLatency).map((f) => encodeFrame(f, options(c))))

type Mutation = (b: Buffer) => Buffer
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([at, bit]): Mutation => (b) => {
    if (b.length === 0) return b
    const out = Buffer.from(b)
    out[at % b.length] ^= 1 << bit
    return out
  }),
  fc.nat().map((at): Mutation => (b) => b.subarray(0, at % (b.length + 1))),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, ins]): Mutation => (b) => {
    const p = at % (b.length + 1)
    return Buffer.concat([b.subarray(0, p), Buffer.from(ins), b.subarray(p)])
  }),
  fc.tuple(fc.nat(), fc.nat(), fc.nat()).map(([from, len, to]): Mutation => (b) => {
    const s = from % (b.length + 1)
    const piece = b.subarray(s, s + (len % 16))
    const p = to % (b.length + 1)
    return Buffer.concat([b.subarray(0, p), piece, b.subarray(p)])
  }),
  fc.tuple(fc.nat(), fc.nat()).map(([from, len]): Mutation => (b) => {
    const s = from % (b.length + 1)
    return Buffer.concat([b.subarray(0, s), b.subarray(s + (len % 8))])
  }),
)
const mutated = (valid: fc.Arbitrary<Buffer>) =>
  fc.tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([b, ms]) => ms.reduce((acc, m) => m(acc), b))
const brokenBytes = fc.oneof(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), mutated(validStream))

const decoderOptions: fc.Arbitrary<StreamDecoderOptions> = fc.record({
  serverLatency: fc.boolean(),
  handshake: fc.constantFrom('none' as const, 'client' as const, 'server' as const),
  continueAfterError: fc.boolean(),
  maxFrameSize: fc.oneof(fc.constant(undefined), fc.integer({ min: 1, max: 64 })),
  maxMessageSize: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 128 })),
  maxOpenMessages: fc.oneof(fc.constant(undefined), fc.integer({ min: 0, max: 3 })),
}, { requiredKeys: [] })

describe('broken input: only coded protocol errors, always returning', () => {
  it('StreamDecoder, random and mutated bytes, random chunks', () => {
    fc.assert(fc.property(brokenBytes, decoderOptions, chunking, (bytes, opts, cuts) => {
      let result: StreamResult | undefined
      expect(() => { result = decodeStream(chunks(bytes, cuts), opts) }).not.toThrow()
      const { frames, errors } = result as StreamResult
      for (const err of errors) {
        expectCodedError(err)
        expect(err.offset).toBeGreaterThanOrEqual(0)
        expect(err.offset).toBeLessThanOrEqual(bytes.length)
      }
      // Frames lie inside the input, in order, without overlapping.
      let end = 0
      for (const f of frames) {
        expect(f.offset).toBeGreaterThanOrEqual(end)
        end = f.offset + f.length
        expect(end).toBeLessThanOrEqual(bytes.length)
      }
      if (!opts.continueAfterError) expect(errors.length).toBeLessThanOrEqual(1)
    }), { numRuns: NUM_RUNS * 3 })
  })

  it('StreamDecoder gives the same frames and errors whatever the chunking', () => {
    fc.assert(fc.property(brokenBytes, decoderOptions, chunking, (bytes, opts, cuts) => {
      const whole = decodeStream([bytes], opts)
      const pieces = decodeStream(chunks(bytes, cuts), opts)
      const errs = (r: StreamResult) => r.errors.map((e) => [e.code, e.offset])
      expect(pieces.frames).toEqual(whole.frames)
      expect(errs(pieces)).toEqual(errs(whole))
    }), { numRuns: NUM_RUNS * 2 })
  })

  it('StreamDecoder with onHead takes exactly the frames and errors it gives without it (decode --json)', () => {
    fc.assert(fc.property(brokenBytes, decoderOptions, chunking, fc.boolean(), (bytes, opts, cuts, takeAll) => {
      const plain = decodeStream(chunks(bytes, cuts), opts)
      // Heads made into Frames the way the decoder makes them (frameFromHead); some declined, which
      // must then come to onFrame instead.
      let offered = 0
      const viaHeads: StreamResult = { frames: [], errors: [] }
      decodeStream(chunks(bytes, cuts), {
        ...opts,
        onHead: (head, buf, offset, length) => {
          if (!takeAll && (offered++ & 1) === 0) return false
          viaHeads.frames.push({ json: frameToJson(stmpV3.frameFromHead(head, buf, offset)), offset, length })
          return true
        },
      }, viaHeads)
      const errs = (r: StreamResult) => r.errors.map((e) => [e.code, e.offset])
      expect(viaHeads.frames).toEqual(plain.frames)
      expect(errs(viaHeads)).toEqual(errs(plain))
    }), { numRuns: NUM_RUNS * 2 })
  })

  it('decodeMessage, random and mutated messages, both formats', () => {
    const message = fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), mutated(validMessage))
    fc.assert(fc.property(message, fc.constantFrom<Format>('binary', 'text'), fc.boolean(), (bytes, format, serverLatency) => {
      try {
        const frame = decodeMessage(bytes, { format, serverLatency })
        expect(typeof frame.kind).toBe('string')
      } catch (err) {
        expectCodedError(err)
        expect(err.offset).toBe(0)
      }
    }), { numRuns: NUM_RUNS * 3 })
  })
})

// ---------------------------------------------------------------------------------------------
// Fragmentation

const messageFrame = (serverLatency: boolean): fc.Arbitrary<MessageFrame> => fc.oneof(
  fc.record({
    kind: fc.constantFrom('request' as const, 'push' as const), id, action: action.filter((a) => Buffer.byteLength(a) <= 40),
    payload: fc.uint8Array({ maxLength: 3000, size: 'max' }).map((a) => Buffer.from(a)), follow: fc.constant(false), fin: fc.constant(false),
  }),
  fc.record({
    kind: fc.constant('response' as const), id, status: u16, latency: serverLatency ? u16 : fc.constant(null),
    payload: fc.uint8Array({ maxLength: 3000, size: 'max' }).map((a) => Buffer.from(a)), follow: fc.constant(false), fin: fc.constant(false),
  }),
)
/**
 * Larger than any head (4 + 40-byte action + "\n" or 7) so every message can be split; payloads
 * run to 3000 bytes (size 'max'), so most messages are split into several frames (checked below).
 */
const fragmentSize = fc.integer({ min: 48, max: 400 })

/** Decodes a stream and reassembles it: the messages in the order they completed. */
function reassemble(pieces: Buffer[], serverLatency: boolean): { messages: Record<string, unknown>[]; errors: StmpProtocolError[]; frames: number } {
  const reassembler = new Reassembler()
  const messages: Record<string, unknown>[] = []
  const errors: StmpProtocolError[] = []
  let frames = 0
  const decoder = new StreamDecoder((frame, offset) => {
    frames++
    if (frame.kind !== 'request' && frame.kind !== 'push' && frame.kind !== 'response') {
      messages.push(frameToJson(frame))
      return
    }
    const whole = reassembler.push(frame, offset)
    if (whole) messages.push(frameToJson(whole))
  }, (err) => errors.push(err), { serverLatency })
  for (const piece of pieces) decoder.write(piece)
  decoder.end()
  return { messages, errors, frames }
}

describe('fragmentation', () => {
  it('encodeFragmented at random fragment sizes reassembles to the original message', () => {
    const input = fc.boolean().chain((serverLatency) => fc.tuple(fc.constant(serverLatency), messageFrame(serverLatency), fragmentSize, chunking))
    let split = 0
    fc.assert(fc.property(input, ([serverLatency, message, size, cuts]) => {
      const opts: FrameOptions = { framing: 'stream', format: 'binary', serverLatency }
      const parts = encodeFragmented(message, opts, size)
      if (parts.length > 1) split++
      for (const part of parts) expect(part.length).toBeLessThanOrEqual(size + 2) // + LENGTH
      const { messages, errors, frames } = reassemble(chunks(Buffer.concat(parts), cuts), serverLatency)
      expect(errors).toEqual([])
      expect(frames).toBe(parts.length)
      expect(messages).toEqual([frameToJson(message)])
    }), { numRuns: NUM_RUNS })
    // The property is about fragments: most runs must have had some.
    expect(split).toBeGreaterThan(NUM_RUNS / 2)
  })

  it('frames of other messages interleaved between fragments still decode', () => {
    const input = fc.boolean().chain((serverLatency) => fc.record({
      serverLatency: fc.constant(serverLatency),
      messages: fc.uniqueArray(messageFrame(serverLatency), { minLength: 2, maxLength: 4, selector: (m) => `${m.kind}/${m.id}` }),
      others: fc.array(fc.oneof(pingFrame, closeFrame), { maxLength: 4 }),
      size: fragmentSize,
      order: fc.array(fc.nat(), { maxLength: 200 }),
      cuts: chunking,
    }))
    fc.assert(fc.property(input, ({ serverLatency, messages, others, size, order, cuts }) => {
      const opts: FrameOptions = { framing: 'stream', format: 'binary', serverLatency }
      // One queue per message (its frames in order) and one per other frame; merge them in a
      // random order that keeps each queue's own order.
      const queues: { frames: Buffer[]; json: Record<string, unknown> }[] = [
        ...messages.map((m) => ({ frames: encodeFragmented(m, opts, size), json: frameToJson(m) })),
        ...others.map((f) => ({ frames: [encodeFrame(f, opts)], json: frameToJson(f) })),
      ]
      const wire: Buffer[] = []
      const completed: Record<string, unknown>[] = []
      let k = 0
      for (let live = queues.filter((q) => q.frames.length > 0); live.length > 0; live = live.filter((q) => q.frames.length > 0)) {
        const q = live[(order[k++] ?? 0) % live.length]
        wire.push(q.frames.shift() as Buffer)
        if (q.frames.length === 0) completed.push(q.json)
      }
      const { messages: got, errors } = reassemble(chunks(Buffer.concat(wire), cuts), serverLatency)
      expect(errors).toEqual([])
      expect(got).toEqual(completed)
    }), { numRuns: NUM_RUNS })
  })
})
