import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { capture } from '../../../src/lib/dialects/stmp-go/capture.js'
import {
  type Packet, PacketStream, decodeHandshake, encodeClientHandshake, decodePacket, decodePacketText, decodeServerHandshakeText, encodePacket, encodePacketText,
} from '../../../src/lib/dialects/stmp-go/codec.js'
import { Deflater } from '../../../src/lib/dialects/stmp-go/gzip.js'
import '../../helpers/fast-check-size.js'

const coded = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    expect((err as { code?: unknown }).code).toMatch(/^[A-Z][A-Z_]+$/)
    expect((err as { offset?: unknown }).offset).toEqual(expect.any(Number))
  }
}

/** Bytes made mostly of stmp-go-like pieces: head bytes, uvarints, magic, text kinds. */
const piece = fc.oneof(
  fc.constantFrom(0x80, 0x90, 0xa8, 0xaa, 0xac, 0xb8, 0xc8, 0xcc, 0xd8, 0xff, 0x00, 0x7f, 0x0a, 0x3a).map((b) => Buffer.from([b])),
  fc.constantFrom('STMP', 'Q1:', 'S1:0', '\nP', '\nH', 'a:b', 'M:', 'N99', 'C0').map((t) => Buffer.from(t)),
  fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)),
)
const bytes = fc.array(piece, { maxLength: 12 }).map((parts) => Buffer.concat(parts))

describe('stmp-go decoding never throws anything but a coded error', () => {
  it('packets (stream and WebSocket, binary and text) and handshakes, on random stmp-go-like bytes', () => {
    fc.assert(fc.property(bytes, (b) => {
      coded(() => decodePacket(b, 0, b.length, false, 64))
      coded(() => decodePacket(b, 0, b.length, true, 64))
      coded(() => decodePacketText(b, 64))
      coded(() => decodeHandshake(b, 'client', 64))
      coded(() => decodeServerHandshakeText(b.toString('latin1')))
      coded(() => new PacketStream(() => undefined, 64).write(b))
    }))
  })

  it('the capture decoder reports errors, never throws, on any bytes either way', () => {
    fc.assert(fc.property(bytes, fc.constantFrom('client' as const, 'server' as const), fc.constantFrom('stream' as const, 'websocket' as const), (b, direction, framing) => {
      const d = capture.decoder({ direction, framing })
      const errors: string[] = []
      d.onError = (e) => errors.push(e.code)
      d.onFrame = () => undefined
      d.write(Buffer.concat([Buffer.from('STMP\x10\x00\x00'), b]), 0, false)
      d.write(b, 7 + b.length, false)
      d.end('close')
      for (const code of errors) expect(code).toMatch(/^[A-Z][A-Z_]+$/)
    }))
  })

  it('what the encoder writes, the decoder reads back (binary stream, WebSocket and text)', () => {
    const packet: fc.Arbitrary<Packet> = fc.oneof(
      fc.record({ kind: fc.constant('request' as const), mid: fc.integer({ min: 0, max: 0xffff }), action: fc.integer({ min: 0, max: 2 ** 40 }), payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) }),
      fc.record({ kind: fc.constant('notify' as const), method: fc.string({ minLength: 1, maxLength: 20 }).filter((m) => !/[\n:;%]/.test(m)), payload: fc.uint8Array({ maxLength: 50 }).map((a) => Buffer.from(a)) }),
      fc.record({ kind: fc.constant('response' as const), mid: fc.integer({ min: 0, max: 0xffff }), status: fc.integer({ min: 0, max: 255 }), headers: fc.array(fc.tuple(fc.string({ minLength: 1 }), fc.string()), { maxLength: 3 }), payload: fc.uint8Array({ maxLength: 50 }).map((a) => Buffer.from(a)) }),
      fc.record({ kind: fc.constant('close' as const), status: fc.integer({ min: 0, max: 255 }), payload: fc.string().map((t) => Buffer.from(t)) }),
    )
    const norm = (p: Packet) => ({ ...p, headers: p.headers && p.headers.length > 0 ? p.headers : undefined, payload: p.payload.toString('hex') })
    fc.assert(fc.property(packet, (p) => {
      const stream = encodePacket(p, true)
      expect(norm(decodePacket(stream, 0, stream.length, true)!.packet)).toEqual(norm(p))
      const ws = encodePacket(p, false)
      expect(norm(decodePacket(ws, 0, ws.length, false)!.packet)).toEqual(norm(p))
      if (p.payload.every((c) => c !== 0x0a) && (p.kind !== 'notify' || !p.method?.startsWith('M'))) {
        const text = decodePacketText(encodePacketText(p))
        expect(norm(text)).toEqual(norm(p))
      }
    }))
  })
})

describe('gzip streams in captures', () => {
  it('a gzip connection (both directions one stream, flushed per packet) decodes to its packets, split anywhere', () => {
    const deflate = new Deflater()
    const packets: Packet[] = [
      { kind: 'request', mid: 1, action: 0x1234, payload: Buffer.from('{"x":1}') },
      { kind: 'ping', payload: Buffer.alloc(0) },
      { kind: 'request', mid: 2, method: 'a.B.c', payload: Buffer.from('{"big":"' + 'z'.repeat(5000) + '"}') },
      { kind: 'close', status: 0, payload: Buffer.from('bye') },
    ]
    const handshake = encodeClientHandshake([['Accept', 'application/json'], ['Accept-Encoding', 'gzip']])
    const wire = Buffer.concat([handshake, ...packets.map((p) => deflate.write(encodePacket(p, true)))])
    for (const cut of [1, 7, handshake.length, handshake.length + 3, wire.length - 5]) {
      const d = capture.decoder({ direction: 'client', framing: 'stream' })
      const frames: Record<string, unknown>[] = []
      const errors: string[] = []
      d.onFrame = (f) => frames.push(f)
      d.onError = (e) => errors.push(`${e.code} ${e.message}`)
      d.write(wire.subarray(0, cut), 0, false)
      d.write(wire.subarray(cut), cut, false)
      d.end('close')
      expect(errors).toEqual([])
      expect(frames.map((f) => f.kind)).toEqual(['handshake', 'request', 'ping', 'request', 'close'])
      expect(frames[3]).toMatchObject({ id: 2, method: 'a.B.c' })
      expect((frames[3].payload as Buffer).length).toBe(5000 + 10)
    }
  })
})
