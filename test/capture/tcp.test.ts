import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeCapture } from '../../src/lib/capture/decoder.js'
import { TcpFlag } from '../../src/lib/capture/ip.js'
import { seqDistance } from '../../src/lib/capture/tcp.js'
import { LinkType } from '../../src/lib/capture/types.js'
import { buildCapture, TcpConversation, type TcpPacketOut } from '../helpers/pcap-writer.js'
import { decodeBoth, ofType, streamOf } from './helpers.js'

const CLIENT = { ip: '10.1.0.1', port: 51000 }
const SERVER = { ip: '10.1.0.2', port: 9000 }

/** 0..n-1 as bytes, so every offset is recognisable. */
function pattern(n: number, salt = 0): Buffer {
  return Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + salt) & 0xff))
}

function capture(packets: TcpPacketOut[], format: 'pcap' | 'pcapng' = 'pcap'): Buffer {
  // Re-time in list order: a capture is in capture order, whatever the seq numbers say.
  return buildCapture({ format, linkType: LinkType.ETHERNET }, packets.map((p, i) => ({ time: 1_000_000n * BigInt(i + 1), ip: p.ip })))
}

function conv(o: { clientIsn?: number, serverIsn?: number } = {}): TcpConversation {
  return new TcpConversation({ client: CLIENT, server: SERVER, ...o })
}

describe('TCP reassembly', () => {
  it('seqDistance is signed and wraps at 2^32', () => {
    expect(seqDistance(5, 0xfffffffb)).toBe(10)
    expect(seqDistance(0xfffffffb, 5)).toBe(-10)
    expect(seqDistance(100, 100)).toBe(0)
  })

  it('delivers out-of-order segments in sequence order once the hole fills', () => {
    const c = conv()
    const data = pattern(500)
    const [syn, synAck, ack] = c.handshake()
    const segs = c.send('client', data, 100)
    const packets = [syn, synAck, ack, segs[0], segs[3], segs[2], segs[4], segs[1], ...c.close()]
    const events = decodeBoth(capture(packets))
    expect(streamOf(events, 'client').equals(data)).toBe(true)
    const data0 = ofType(events, 'data')
    // segs[1] arrives as the 8th packet and releases 100..499 at once, in order.
    expect(data0.map((e) => [e.streamOffset, e.bytes.length])).toEqual([[0, 100], [100, 100], [200, 100], [300, 100], [400, 100]])
    expect(new Set(data0.slice(1).map((e) => e.time)).size).toBe(1)
    expect(ofType(events, 'gap')).toEqual([])
  })

  it('trims retransmissions and overlapping segments', () => {
    const c = conv()
    const data = pattern(300, 3)
    const base = c.seqOf('client') + 1 // after the SYN
    const hs = c.handshake()
    const s = (from: number, to: number) => c.segment('client', TcpFlag.ACK, data.subarray(from, to), (base + from) >>> 0)
    const packets = [
      ...hs, s(0, 100), s(0, 100), s(50, 150), s(120, 200), s(100, 130), s(250, 300), s(180, 260), s(0, 300),
    ]
    const events = decodeBoth(capture(packets))
    expect(streamOf(events, 'client').equals(data)).toBe(true)
    expect(ofType(events, 'data').reduce((n, e) => n + e.bytes.length, 0)).toBe(300)
  })

  it('reports a missing segment as a gap when the FIN arrives, and goes on after it', () => {
    const c = conv()
    const data = pattern(400)
    const hs = c.handshake()
    const segs = c.send('client', data, 100)
    const packets = [...hs, segs[0], segs[2], segs[3], ...c.close()] // segs[1] (100..199) is lost
    const events = decodeBoth(capture(packets))
    const gaps = ofType(events, 'gap')
    expect(gaps.map((g) => [g.direction, g.streamOffset, g.missing, g.cause])).toEqual([['client', 100, 100, 'fin']])
    const data0 = ofType(events, 'data').filter((e) => e.direction === 'client')
    expect(data0.map((e) => [e.streamOffset, e.bytes.length])).toEqual([[0, 100], [200, 100], [300, 100]])
    expect(data0[1].bytes.equals(data.subarray(200, 300))).toBe(true)
    // The gap comes after the data before it and before the data after it.
    const order = events.filter((e) => e.type === 'data' || e.type === 'gap').map((e) => e.type)
    expect(order).toEqual(['data', 'gap', 'data', 'data'])
    expect(ofType(events, 'tcp-close').map((e) => [e.reason, e.clientBytes])).toEqual([['fin', 400]])
  })

  it('reports a gap at the end of the capture', () => {
    const c = conv()
    const hs = c.handshake()
    const segs = c.send('server', pattern(300), 100)
    const events = decodeBoth(capture([...hs, segs[0], segs[2]]))
    expect(ofType(events, 'gap').map((g) => [g.direction, g.streamOffset, g.missing, g.cause])).toEqual([['server', 100, 100, 'end']])
    expect(ofType(events, 'tcp-close').map((e) => [e.reason, e.serverBytes])).toEqual([['end', 300]])
  })

  it('a missing segment before the FIN (the data the FIN closes) is a gap too', () => {
    const c = conv()
    const hs = c.handshake()
    const segs = c.send('client', pattern(200), 100)
    const events = decodeBoth(capture([...hs, segs[0], ...c.close()]))
    expect(ofType(events, 'gap').map((g) => [g.streamOffset, g.missing])).toEqual([[100, 100]])
  })

  it('reports a gap and TCP_BUFFER_LIMIT when out-of-order data passes maxOutOfOrderBytes', () => {
    const c = conv()
    const hs = c.handshake()
    const segs = c.send('client', pattern(1000), 100)
    const packets = [...hs, segs[0], ...segs.slice(2)] // segs[1] never comes
    const events = decodeCapture(capture(packets), { maxOutOfOrderBytes: 350 })
    const errors = ofType(events, 'error')
    expect(errors.map((e) => [e.code, e.fatal, e.direction, e.connId])).toEqual([['TCP_BUFFER_LIMIT', false, 'client', 1]])
    expect(ofType(events, 'gap').map((g) => [g.streamOffset, g.missing, g.cause])).toEqual([[100, 100, 'buffer-limit']])
    // The gap comes out as soon as the 4th buffered segment passes 350 bytes, before the rest arrives.
    const gapIndex = events.findIndex((e) => e.type === 'gap')
    expect(events.slice(gapIndex + 1).filter((e) => e.type === 'data').length).toBeGreaterThan(1)
    expect(streamOf(events, 'client').equals(Buffer.concat([pattern(1000).subarray(0, 100), pattern(1000).subarray(200)]))).toBe(true)
  })

  it('follows sequence numbers past 2^32, in and out of order', () => {
    const c = conv({ clientIsn: 0xffffff00, serverIsn: 0xfffffff0 })
    const hs = c.handshake()
    const up = pattern(1000, 1)
    const down = pattern(700, 2)
    const ups = c.send('client', up, 100)
    const downs = c.send('server', down, 64)
    expect(ups.some((p) => p.seq < 0x1000)).toBe(true) // the stream really wraps
    const packets = [...hs, ups[0], ups[1], ups[3], ups[2], ...ups.slice(4), ...downs.reverse(), ...c.close()]
    const events = decodeBoth(capture(packets))
    expect(streamOf(events, 'client').equals(up)).toBe(true)
    expect(streamOf(events, 'server').equals(down)).toBe(true)
    expect(ofType(events, 'gap')).toEqual([])
    expect(ofType(events, 'tcp-close').map((e) => e.reason)).toEqual(['fin'])
  })

  it('a RST closes the connection and declares pending holes', () => {
    const c = conv()
    const hs = c.handshake()
    const segs = c.send('client', pattern(300), 100)
    const events = decodeBoth(capture([...hs, segs[0], segs[2], c.rst('server')]))
    expect(ofType(events, 'gap').map((g) => [g.direction, g.streamOffset, g.missing, g.cause])).toEqual([['client', 100, 100, 'rst']])
    const closes = ofType(events, 'tcp-close')
    expect(closes.map((e) => [e.reason, e.clientBytes, e.serverBytes])).toEqual([['rst', 300, 0]])
    expect(events[events.length - 1].type).toBe('tcp-close')
  })

  it('the SYN+ACK sender is the server even when the SYN was not captured', () => {
    const c = conv()
    const [, synAck, ack] = c.handshake()
    const events = decodeBoth(capture([synAck, ack, ...c.send('client', Buffer.from('hi'))]))
    expect(ofType(events, 'tcp-open').map((e) => [e.connection, e.sawSyn])).toEqual([['10.1.0.1:51000 -> 10.1.0.2:9000', true]])
    expect(streamOf(events, 'client').toString()).toBe('hi')
  })

  it('mid-stream: the first sender is the client, unless the other side is on a known server port', () => {
    const c = conv()
    c.handshake()
    const packets = [...c.send('server', Buffer.from('banner')), ...c.send('client', Buffer.from('hello'))]
    const guessed = decodeCapture(capture(packets))
    expect(ofType(guessed, 'tcp-open').map((e) => [e.connection, e.sawSyn])).toEqual([['10.1.0.2:9000 -> 10.1.0.1:51000', false]])
    const told = decodeBoth(capture(packets), { serverPorts: [9000] })
    expect(ofType(told, 'tcp-open').map((e) => e.connection)).toEqual(['10.1.0.1:51000 -> 10.1.0.2:9000'])
    expect(streamOf(told, 'server').toString()).toBe('banner')
    expect(streamOf(told, 'client').toString()).toBe('hello')
  })

  it('tells apart several connections and numbers them in order', () => {
    const a = new TcpConversation({ client: { ip: '10.1.0.1', port: 1111 }, server: SERVER })
    const b = new TcpConversation({ client: { ip: '10.1.0.3', port: 2222 }, server: SERVER })
    const packets = [...a.handshake(), ...b.handshake(), ...b.send('client', Buffer.from('bbb')), ...a.send('client', Buffer.from('aaa')), ...b.close(), ...a.close()]
    const events = decodeBoth(capture(packets, 'pcapng'))
    expect(ofType(events, 'tcp-open').map((e) => [e.connId, e.client.port])).toEqual([[1, 1111], [2, 2222]])
    expect(streamOf(events, 'client', 1).toString()).toBe('aaa')
    expect(streamOf(events, 'client', 2).toString()).toBe('bbb')
    expect(ofType(events, 'tcp-close').map((e) => e.connId)).toEqual([2, 1])
    expect(ofType(events, 'packet-skipped')).toEqual([]) // the last ACKs after a close are not noise
  })

  it('a new SYN on a reused 4-tuple starts a new connection', () => {
    const first = conv()
    const second = conv({ clientIsn: 777777 })
    const packets = [...first.handshake(), ...first.send('client', Buffer.from('one')), ...second.handshake(), ...second.send('client', Buffer.from('two'))]
    const events = decodeBoth(capture(packets))
    expect(ofType(events, 'tcp-open').map((e) => e.connId)).toEqual([1, 2])
    expect(streamOf(events, 'client', 1).toString()).toBe('one')
    expect(streamOf(events, 'client', 2).toString()).toBe('two')
  })

  it('maxConnections: further connections are skipped with one TCP_CONNECTION_LIMIT', () => {
    const convs = [1, 2, 3].map((i) => new TcpConversation({ client: { ip: '10.1.0.1', port: 1000 + i }, server: SERVER }))
    const packets = convs.flatMap((c) => [...c.handshake(), ...c.send('client', Buffer.from('x'))])
    const events = decodeCapture(capture(packets), { maxConnections: 2 })
    expect(ofType(events, 'tcp-open').length).toBe(2)
    expect(ofType(events, 'error').map((e) => e.code)).toEqual(['TCP_CONNECTION_LIMIT'])
    expect(ofType(events, 'packet-skipped').every((e) => e.reason === 'no-connection')).toBe(true)
    expect(ofType(events, 'packet-skipped').length).toBe(3)
  })

  it('any segmentation, reordering and duplication after the handshake gives back the exact stream', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.integer({ min: 1, max: 400 }), fc.nat({ max: 0xffffffff }),
      fc.array(fc.nat(), { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 5 }),
      (bytes, segmentSize, isn, swaps, duplicates) => {
        const data = Buffer.from(bytes)
        const c = conv({ clientIsn: isn })
        const hs = c.handshake()
        const segs = c.send('client', data, segmentSize)
        for (const swap of swaps) {
          const i = swap % segs.length
          const j = Math.min(segs.length - 1, i + 1 + (swap % 3))
          ;[segs[i], segs[j]] = [segs[j], segs[i]]
        }
        for (const d of duplicates) segs.splice(d % (segs.length + 1), 0, segs[d % segs.length])
        const events = decodeCapture(capture([...hs, ...segs, ...c.close()]))
        expect(ofType(events, 'gap')).toEqual([])
        expect(streamOf(events, 'client').equals(data)).toBe(true)
        expect(ofType(events, 'tcp-close').map((e) => [e.reason, e.clientBytes])).toEqual([['fin', data.length]])
      },
    ), { numRuns: 200 })
  })
})
