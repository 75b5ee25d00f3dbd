import { describe, expect, it } from 'vitest'
import {
  StreamDecoder, StmpProtocolError, decodeMessage, encodeFrame, encodeHandshakeRequest, encodeHandshakeResponse,
  frameFromJson, frameToJson, type AnyFrame,
} from '../../src/lib/codec/index.js'
import { loadVectors, pick, vectorBytes, vectorHandshake, type Vector } from '../helpers/vectors.js'

interface Decoded { frames: Record<string, unknown>[]; errors: { code: string; offset: number }[] }

/** Decodes a vector's input as `decode` would: going on after errors where LENGTH allows. */
function decodeVector(v: Vector, chunkSize?: number): Decoded {
  const frames: Record<string, unknown>[] = []
  const errors: { code: string; offset: number }[] = []
  const bytes = vectorBytes(v)
  if (v.transport === 'websocket') {
    try {
      frames.push(frameToJson(decodeMessage(bytes, { format: v.format, serverLatency: v.serverLatency })))
    } catch (err) {
      if (!(err instanceof StmpProtocolError)) throw err
      errors.push({ code: err.code, offset: err.offset })
    }
    return { frames, errors }
  }
  const decoder = new StreamDecoder(
    (frame) => frames.push(frameToJson(frame)),
    (err) => errors.push({ code: err.code, offset: err.offset }),
    { serverLatency: v.serverLatency, handshake: vectorHandshake(v), continueAfterError: true },
  )
  if (chunkSize === undefined) decoder.write(bytes)
  else for (let i = 0; i < bytes.length; i += chunkSize) decoder.write(bytes.subarray(i, i + chunkSize))
  decoder.end()
  return { frames, errors }
}

function encodeVectorFrames(v: Vector): Buffer {
  const options = { format: v.format, framing: v.transport, serverLatency: v.serverLatency } as const
  return Buffer.concat(v.frames.map((json) => {
    const frame = frameFromJson(json) as AnyFrame
    if (frame.kind === 'handshake-request') return encodeHandshakeRequest(frame)
    if (frame.kind === 'handshake-response') return encodeHandshakeResponse(frame)
    return encodeFrame(frame, options)
  }))
}

const vectors = loadVectors()

describe('conformance vectors', () => {
  it('are all present', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(27)
  })

  for (const v of vectors) {
    describe(v.name, () => {
      it('decodes to the expected frames and error', () => {
        const { frames, errors } = decodeVector(v)
        expect(frames.map((f, i) => pick(f, v.frames[i] ?? {}))).toEqual(v.frames)
        expect(frames).toHaveLength(v.frames.length)
        if (v.error) expect(errors[0]).toEqual(v.error)
        else expect(errors).toEqual([])
      })

      it('decodes the same fed one byte at a time', () => {
        if (v.transport !== 'stream') return
        expect(decodeVector(v, 1)).toEqual(decodeVector(v))
        expect(decodeVector(v, 3)).toEqual(decodeVector(v))
      })

      if (!v.error) {
        it('encodes the expected frames to the exact bytes', () => {
          const expected = vectorBytes(v)
          if (vectorHandshake(v) === 'client') {
            // The vectors report header keys lower-cased (keys are case-insensitive, wire notes
            // §8), so the original key case cannot come back: compare the lower-cased bytes.
            expect(encodeVectorFrames(v).toString('latin1').toLowerCase()).toBe(expected.toString('latin1').toLowerCase())
            expect(encodeVectorFrames(v).length).toBe(expected.length)
          } else {
            expect(encodeVectorFrames(v).toString('hex')).toBe(expected.toString('hex'))
          }
        })

        it('round-trips: decode(encode(frames)) equals the frames', () => {
          const again = decodeVector({ ...v, inputHex: encodeVectorFrames(v).toString('hex'), inputText: undefined })
          expect(again.frames.map((f, i) => pick(f, v.frames[i]))).toEqual(v.frames)
          expect(again.errors).toEqual([])
        })
      }
    })
  }
})
