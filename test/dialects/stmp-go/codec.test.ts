import { describe, expect, it } from 'vitest'
import {
  DEFAULT_MAX_PACKET, PacketStream, type Packet, STATUS_TABLE, closeCodeOf, closeStatusOf, decodeHandshake, decodePacket,
  decodePacketText, decodeServerHandshakeText, encodeClientHandshake, encodePacket, encodePacketText, encodeServerHandshake,
  encodeServerHandshakeText, marshalHeaders, parseActionId, parseHeaders, readUvarint, statusOf, uvarintSize, wireStatusOf, writeUvarint,
} from '../../../src/lib/dialects/stmp-go/codec.js'
import { streamBytes, transcript } from './transcript.js'

/** What a packet is, in short: for comparing with the transcripts. */
function brief(p: Packet): string {
  const parts: string[] = [p.kind]
  if (p.mid !== undefined) parts.push(`mid=${p.mid}`)
  if (p.status !== undefined) parts.push(`status=${p.status.toString(16)}`)
  if (p.action !== undefined) parts.push(`action=${p.action.toString(16)}`)
  if (p.method !== undefined) parts.push(`method=${p.method}`)
  if (p.headers) parts.push(`headers=${marshalHeaders(p.headers).toString()}`)
  if (p.payload.length > 0) parts.push(p.payload.toString('utf8'))
  return parts.join(' ')
}

function streamPackets(bytes: Buffer, side: 'client' | 'server'): { handshake: ReturnType<typeof decodeHandshake>; packets: Packet[]; rest: number } {
  const handshake = decodeHandshake(bytes, side)
  const packets: Packet[] = []
  const stream = new PacketStream((p) => packets.push(p))
  stream.write(bytes.subarray(handshake!.size))
  return { handshake, packets, rest: stream.buffered }
}

const TCP_CLIENT = [
  'request mid=1 action=1234 {"x":1}',
  'response mid=0 status=22 NotFound',
  'request mid=2 action=1235 {}',
  'request mid=3 method=stmp.test.Svc.Echo {"y":2}',
  'close status=0 bye',
  'close status=2 read packet header: EOF',
]
const TCP_SERVER = [
  'response mid=1 status=0 headers=X-Echo:yes {"x":1}',
  'notify action=99 {"n":1}',
  'response mid=2 status=20 nope',
  'response mid=3 status=22 NotFound',
  'close status=0 bye',
]

describe('stmp-go codec on the real TCP transcript (stmp_tcp.log)', () => {
  it('the client side: its handshake, then every packet, nothing left over', () => {
    const bytes = streamBytes('stmp_tcp.log', 'client')
    const { handshake, packets, rest } = streamPackets(bytes, 'client')
    expect(handshake?.handshake).toEqual({ side: 'client', major: 1, minor: 0, headers: [['Accept', 'application/json']], message: '' })
    expect(handshake?.size).toBe(30)
    expect(packets.map(brief)).toEqual(TCP_CLIENT)
    expect(rest).toBe(0)
  })

  it('the server side: its handshake (status 0, Content-Type), then every packet', () => {
    const bytes = streamBytes('stmp_tcp.log', 'server')
    const { handshake, packets, rest } = streamPackets(bytes, 'server')
    expect(handshake?.handshake).toEqual({ side: 'server', status: 0, headers: [['Content-Type', 'application/json']], message: '' })
    expect(packets.map(brief)).toEqual(TCP_SERVER)
    expect(rest).toBe(0)
  })

  it('every packet and both handshakes encode back to the same bytes', () => {
    for (const side of ['client', 'server'] as const) {
      const bytes = streamBytes('stmp_tcp.log', side)
      const { handshake, packets } = streamPackets(bytes, side)
      const hs = handshake!.handshake
      const again = side === 'client' ? encodeClientHandshake(hs.headers, hs.major, hs.minor) : encodeServerHandshake(hs.status!, hs.headers, hs.message)
      expect(Buffer.concat([again, ...packets.map((p) => encodePacket(p, true))]).equals(bytes)).toBe(true)
    }
  })

  it('split at every byte, the stream decoder gives the same packets', () => {
    const bytes = streamBytes('stmp_tcp.log', 'server')
    const body = bytes.subarray(decodeHandshake(bytes, 'server')!.size)
    for (let cut = 1; cut < body.length; cut++) {
      const packets: Packet[] = []
      const offsets: number[] = []
      const stream = new PacketStream((p, offset) => { packets.push(p); offsets.push(offset) })
      stream.write(body.subarray(0, cut))
      stream.write(body.subarray(cut))
      expect(packets.map(brief)).toEqual(TCP_SERVER)
      expect(offsets[0]).toBe(0)
    }
  })
})

describe('stmp-go codec on the real WebSocket transcripts', () => {
  it('binary (stmp_ws.log): the server handshake message, then one packet per message, no payload length', () => {
    const msgs = transcript('stmp_ws.log').messages.filter((m) => m.op === 'binary')
    const hs = decodeHandshake(msgs[0].bytes, 'server')
    expect(hs?.handshake.headers).toEqual([['Content-Type', 'application/json']])
    expect(hs?.size).toBe(msgs[0].bytes.length)
    const packets = msgs.slice(1).map((m) => decodePacket(m.bytes, 0, m.bytes.length, false)!.packet)
    expect(packets.map(brief)).toEqual([
      'request mid=1 action=1234 {"x":1}',
      'response mid=1 status=0 headers=X-Echo:yes {"x":1}',
      'notify action=99 {"n":1}',
      'response mid=0 status=22 NotFound',
      'request mid=2 action=1235 {}',
      'response mid=2 status=20 nope',
      'request mid=3 method=stmp.test.Svc.Echo {"y":2}',
      'response mid=3 status=22 NotFound',
      'close status=0 bye',
      'close status=0 bye',
    ])
    for (let i = 0; i < packets.length; i++) expect(encodePacket(packets[i], false).equals(msgs[i + 1].bytes)).toBe(true)
  })

  it('text (stmp_wstext.log): the server handshake as a text message, packets as text in binary messages', () => {
    const msgs = transcript('stmp_wstext.log').messages.filter((m) => m.op !== 'close')
    expect(msgs[0].op).toBe('text')
    const hs = decodeServerHandshakeText(msgs[0].bytes.toString('utf8'))
    expect(hs).toEqual({ side: 'server', status: 0, headers: [['Content-Type', 'application/json'], ['Packet-Format', 'text']], message: '' })
    expect(encodeServerHandshakeText(0, hs.headers, '').equals(msgs[0].bytes)).toBe(true)
    expect(msgs.slice(1).every((m) => m.op === 'binary')).toBe(true)
    const packets = msgs.slice(1).map((m) => decodePacketText(m.bytes))
    expect(packets.map(brief)).toEqual([
      'request mid=1 action=1234 {"x":1}',
      'response mid=1 status=0 headers=X-Echo:yes {"x":1}',
      'notify action=99 {"n":1}',
      'request mid=2 action=1235 {}',
      'response mid=0 status=22 NotFound',
      'response mid=2 status=20 nope',
      'request mid=3 method=stmp.test.Svc.Echo {"y":2}',
      'response mid=3 status=22 NotFound',
      'close status=0 bye',
      'close status=0 bye',
    ])
    for (let i = 0; i < packets.length; i++) expect(encodePacketText(packets[i]).toString()).toBe(msgs[i + 1].bytes.toString())
  })
})

describe('stmp-go codec: the notes\' examples and the edges', () => {
  it('the examples of the wire notes', () => {
    expect(encodePacket({ kind: 'request', mid: 1, action: 0x1234, payload: Buffer.from('{"x":1}') }, true).toString('hex')).toBe('a80100b424077b2278223a317d')
    expect(encodePacket({ kind: 'notify', action: 0x99, payload: Buffer.from('{"n":1}') }, true).toString('hex')).toBe('b89901077b226e223a317d')
    expect(encodePacket({ kind: 'response', mid: 2, status: 0x20, payload: Buffer.from('nope') }, true).toString('hex')).toBe('c8020020046e6f7065')
    expect(encodePacket({ kind: 'close', status: 0, payload: Buffer.from('bye') }, true).toString('hex')).toBe('d80003627965')
    expect(encodePacket({ kind: 'ping', payload: Buffer.alloc(0) }, true).toString('hex')).toBe('80')
    expect(encodePacket({ kind: 'pong', payload: Buffer.alloc(0) }, false).toString('hex')).toBe('90')
    expect(encodePacketText({ kind: 'ping', payload: Buffer.alloc(0) }).toString()).toBe('I')
    expect(decodePacketText(Buffer.from('O')).kind).toBe('pong')
  })

  it('uvarints as Go writes them, 64 bits exactly, overflow refused', () => {
    for (const v of [0, 1, 127, 128, 0x1234, 0xffffffff, 2 ** 53 - 1, 0x8000000000000001n, 0xffffffffffffffffn]) {
      const buf = Buffer.alloc(10)
      const end = writeUvarint(buf, 0, v)
      expect(end).toBe(uvarintSize(v))
      const out: { size: number; big?: bigint } = { size: 0 }
      const n = readUvarint(buf, 0, end, out)
      expect(out.size).toBe(end)
      expect(n === -3 ? out.big : n).toBe(v)
    }
    expect(readUvarint(Buffer.from('ffffffffffffffffff02', 'hex'), 0, 10, { size: 0 })).toBe(-2)
    expect(readUvarint(Buffer.from('ff', 'hex'), 0, 1, { size: 0 })).toBe(-1)
  })

  it('headers escape : \\n ; % and keep repeated keys in order', () => {
    const h: [string, string][] = [['a:b', 'x;y\n%'], ['k', '1'], ['k', '2']]
    const bytes = marshalHeaders(h)
    expect(bytes.toString()).toBe('a%3Ab:x%3By%0A%25;k:1;k:2')
    expect(parseHeaders(bytes)).toEqual(h)
    expect(() => parseHeaders(Buffer.from('nocolon'))).toThrow(expect.objectContaining({ code: 'BAD_HEADER' }))
  })

  it('bad bytes are coded errors: head bits, kinds, flags, limits, trailing bytes', () => {
    const code = (fn: () => unknown) => {
      try {
        fn()
        return 'ok'
      } catch (err) {
        return (err as { code: string }).code
      }
    }
    const ws = (hex: string, max?: number) => () => decodePacket(Buffer.from(hex, 'hex'), 0, hex.length / 2, false, max)
    expect(code(ws('00'))).toBe('BAD_HEAD')
    expect(code(ws('81'))).toBe('BAD_HEAD')
    expect(code(ws('e0'))).toBe('BAD_KIND')
    expect(code(ws('88'))).toBe('BAD_HEAD') // a ping with a payload flag
    expect(code(ws('d2'))).toBe('BAD_HEAD') // a close with SA
    expect(code(ws('a801'))).toBe('TRUNCATED')
    expect(code(ws('800000'))).toBe('BAD_PAYLOAD_FLAG')
    expect(code(ws('b8016162636465', 4))).toBe('TOO_LARGE')
    // A stream packet announcing a payload over the limit is refused before the payload comes.
    const big = Buffer.alloc(12)
    big[0] = 0xa8
    let end = writeUvarint(big, 3, 1)
    end = writeUvarint(big, end, DEFAULT_MAX_PACKET + 1)
    expect(code(() => decodePacket(big, 0, end, true))).toBe('TOO_LARGE')
    expect(code(() => decodeHandshake(Buffer.from('GET / HTTP/1.1'), 'client'))).toBe('BAD_MAGIC')
    expect(code(() => decodePacketText(Buffer.from('X1')))).toBe('BAD_KIND')
    expect(code(() => decodePacketText(Buffer.from('Q1:zz')))).toBe('BAD_NUMBER')
    expect(code(() => decodePacketText(Buffer.from('S1:0\nXjunk')))).toBe('BAD_PAYLOAD_FLAG')
    expect(code(() => decodeServerHandshakeText('HTTP'))).toBe('BAD_MAGIC')
  })

  it('statuses: every wire status of consts.go maps to a stmpcat status and back', () => {
    expect(STATUS_TABLE.map((s) => s.wire)).toEqual([0, 1, 2, 3, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x40, 0x41])
    for (const s of STATUS_TABLE) {
      expect(statusOf(s.wire)).toBe(s.status)
      expect(wireStatusOf(s.status)).toBe(s.wire)
    }
    expect(statusOf(0x30)).toBe(400)
    expect(statusOf(0x7f)).toBe(500)
    expect(wireStatusOf(204)).toBe(0)
    expect(wireStatusOf(418)).toBe(0x20)
    expect(wireStatusOf(599)).toBe(0x40)
  })

  it('close statuses and stmpcat close codes', () => {
    expect(closeCodeOf(0x00)).toBe(1000)
    expect(closeCodeOf(0x41)).toBe(1001)
    expect(closeCodeOf(0x03)).toBe(1002)
    expect(closeCodeOf(0x24)).toBe(1009)
    expect(closeCodeOf(0x40)).toBe(1011)
    for (const code of [1000, 1001, 1002, 1008, 1009, 1011]) expect(closeCodeOf(closeStatusOf(code))).toBe(code)
  })

  it('actions written by a user: hex, decimal, up to 64 bits; a method name is not one', () => {
    expect(parseActionId('0x1234')).toBe(0x1234)
    expect(parseActionId('4660')).toBe(0x1234)
    expect(parseActionId('0xFFFFFFFFFFFFFFFF')).toBe(0xffffffffffffffffn)
    expect(parseActionId('stmpcat.peer.Echo.Echo')).toBeUndefined()
    expect(parseActionId('0x10000000000000000')).toBeUndefined()
  })
})
