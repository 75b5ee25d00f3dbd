import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CaptureDecoder } from '../../src/lib/capture/decoder.js'
import { CaptureStmpDecoder, globToRegExp, statusMatcher, urlOptions, type CaptureStmpOptions } from '../../src/lib/capture/stmp.js'
import { LinkType } from '../../src/lib/capture/types.js'
import { IpProtocol } from '../../src/lib/capture/ip.js'
import { buildCapture, CaptureWriter, ipv4Packet, linkFrame, TcpConversation, type CaptureWriterOptions, type TcpPacketOut } from '../helpers/pcap-writer.js'
import { encodeFragmented, encodeFrame, encodeHandshakeRequest, encodeHandshakeResponse, type Frame, type FrameOptions } from '../../src/lib/codec/index.js'
import { ProtobufCodec, ProtoRegistry } from '../../src/lib/payload/index.js'
import { captureLine, IsoTime } from '../../src/lib/render/capture-ndjson.js'
import { captureSummaryLine } from '../../src/lib/render/capture-table.js'
import { ROOT, runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/tmp.js'
import { wsFrame } from './helpers.js'

const CLIENT = { ip: '10.1.0.1', port: 51000 }
const SERVER = { ip: '10.1.0.2', port: 9000 }
const CONN = '10.1.0.1:51000 -> 10.1.0.2:9000'
const LATENCY: FrameOptions = { format: 'binary', framing: 'stream', serverLatency: true }
const json = (v: unknown) => Buffer.from(JSON.stringify(v))

type Line = Record<string, unknown>

/** Decodes a capture to the NDJSON objects `decode --json` prints, chunked as given. */
function decodeJson(file: Buffer, options: CaptureStmpOptions = {}, chunk = file.length): { lines: Line[]; stmp: CaptureStmpDecoder } {
  const text: string[] = []
  const time = new IsoTime()
  const stmp = new CaptureStmpDecoder((event) => text.push(captureLine(event, time)), options)
  const decoder = new CaptureDecoder((event) => stmp.event(event))
  for (let at = 0; at < file.length; at += chunk) decoder.write(file.subarray(at, at + chunk))
  decoder.end()
  stmp.end()
  stmp.setPackets(decoder.stats.packets)
  return { lines: text.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line), stmp }
}

function frames(lines: Line[]): Line[] {
  return lines.filter((l) => typeof l.kind === 'string')
}

/** What a test compares: kind, direction, id, action/status and the decoded payload. */
function brief(lines: Line[]): string[] {
  return frames(lines).map((l) => [l.direction, l.kind, l.id ?? '', l.action ?? l.status ?? l.url ?? '', JSON.stringify(l.payload ?? null)].join(' '))
}

/** A stream STMP conversation: handshake with latency, 3 requests and responses, a ping, a push. */
function stmpConversation(c = new TcpConversation({ client: CLIENT, server: SERVER }), segmentSize = 1460): TcpPacketOut[] {
  const req = (id: number, action: string, payload: unknown): Frame => ({ kind: 'request', id, action, payload: json(payload), follow: false, fin: false })
  const res = (id: number, status: number, payload: Buffer, latency = 3): Frame => ({ kind: 'response', id, status, latency, payload, follow: false, fin: false })
  return [
    ...c.handshake(),
    ...c.send('client', encodeHandshakeRequest({ url: '/?stmp_version=3&stmp_content_type=application/json&stmp_server_latency=1', headers: { authorization: 'Bearer x' } }), segmentSize),
    ...c.send('server', encodeHandshakeResponse({ status: 200, message: 'OK' }), segmentSize),
    ...c.send('client', Buffer.concat([encodeFrame(req(1, 'user.get', { id: 7 }), LATENCY), encodeFrame(req(2, 'user.list', { page: 2 }), LATENCY)]), segmentSize),
    ...c.send('server', encodeFrame(res(1, 200, json({ name: 'ann' })), LATENCY), segmentSize),
    ...c.send('server', encodeFrame(res(2, 404, Buffer.from('no handler for user.list')), LATENCY), segmentSize),
    ...c.send('client', encodeFrame({ kind: 'ping', id: 9 }, LATENCY), segmentSize),
    ...c.send('server', encodeFrame({ kind: 'ping', id: 9 }, LATENCY), segmentSize),
    ...c.send('server', encodeFrame({ kind: 'push', id: 1, action: 'news', payload: json(['a', 1]), follow: false, fin: false }, LATENCY), segmentSize),
    ...c.send('client', encodeFrame(req(3, 'order.put', { n: 1 }), LATENCY), segmentSize),
    ...c.send('server', encodeFrame(res(3, 200, json({ ok: true }), 12), LATENCY), segmentSize),
    ...c.close(),
  ]
}

const EXPECTED = [
  'client handshake-request  /?stmp_version=3&stmp_content_type=application/json&stmp_server_latency=1 null',
  'server handshake-response  200 null',
  'client request 1 user.get {"id":7}',
  'client request 2 user.list {"page":2}',
  'server response 1 200 {"name":"ann"}',
  'server response 2 404 "no handler for user.list"',
  'client ping 9  null',
  'server ping 9  null',
  'server push 1 news ["a",1]',
  'client request 3 order.put {"n":1}',
  'server response 3 200 {"ok":true}',
]

function file(packets: TcpPacketOut[], options: Partial<CaptureWriterOptions> = {}, times?: bigint[]): Buffer {
  return buildCapture({ format: 'pcap', linkType: LinkType.ETHERNET, ...options }, packets.map((p, i) => ({ time: times?.[i] ?? p.time, ip: p.ip })))
}

describe('STMP over a stream transport in a capture', () => {
  it('decodes both directions with the handshake options; every documented field is there', () => {
    const { lines, stmp } = decodeJson(file(stmpConversation()))
    expect(brief(lines)).toEqual(EXPECTED)
    const first = frames(lines)[2]
    expect(first).toEqual({
      kind: 'request', id: 1, action: 'user.get', payloadHex: json({ id: 7 }).toString('hex'), follow: false, fin: false,
      offset: expect.any(Number), length: expect.any(Number), payload: { id: 7 },
      time: expect.stringMatching(/^2026-01-01T00:00:00\.\d{6}Z$/), connection: CONN, direction: 'client', transport: 'stream', format: 'binary',
    })
    // The handshake asked for latency: Responses carry it (both directions use the option).
    expect(frames(lines)[4]).toMatchObject({ kind: 'response', status: 200, latency: 3 })
    expect(frames(lines)[0]).toMatchObject({ headers: { authorization: 'Bearer x' }, offset: 0 })
    expect(stmp.summary).toMatchObject({ connections: 1, stmpConnections: { stream: 1, websocket: 0 }, skippedConnections: 0, frames: 11, errors: 0, gaps: 0 })
    expect(lines.filter((l) => l.error !== undefined)).toEqual([])
  })

  it('gives the same output for pcapng, big-endian pcap, and one byte at a time', () => {
    const packets = stmpConversation()
    const reference = JSON.stringify(decodeJson(file(packets)).lines)
    expect(JSON.stringify(decodeJson(file(packets, { format: 'pcapng' })).lines)).toBe(reference)
    expect(JSON.stringify(decodeJson(file(packets, { bigEndian: true })).lines)).toBe(reference)
    expect(JSON.stringify(decodeJson(file(packets), {}, 1).lines)).toBe(reference)
  })

  it('reassembles out-of-order and retransmitted segments (small segments, frames split across them)', () => {
    const packets = stmpConversation(undefined, 7)
    const data = packets.slice(3, -4)
    // Swap neighbours pairwise and retransmit every third segment after its successor.
    const shuffled: TcpPacketOut[] = []
    for (let i = 0; i < data.length; i += 2) {
      if (i + 1 < data.length) shuffled.push(data[i + 1])
      shuffled.push(data[i])
      if (i % 3 === 0) shuffled.push(data[i])
    }
    const reordered = [...packets.slice(0, 3), ...shuffled, ...packets.slice(-4)]
    expect(reordered.length).toBeGreaterThan(packets.length)
    const { lines, stmp } = decodeJson(file(reordered, {}, reordered.map((_, i) => 1_767_225_600_000_000_000n + BigInt(i) * 1000n)))
    // Capture order across the two directions changed; each direction's own order did not.
    for (const side of ['client', 'server']) expect(brief(lines).filter((l) => l.startsWith(side))).toEqual(EXPECTED.filter((l) => l.startsWith(side)))
    expect(stmp.summary.errors).toBe(0)
    expect(stmp.summary.gaps).toBe(0)
  })

  /** The client segments of stmpConversation(…, segmentSize) with their stream offsets, and the client frames' offsets. */
  function clientLayout(segmentSize = 7) {
    const packets = stmpConversation(undefined, segmentSize)
    const segments = packets.map((p, i) => ({ p, i, at: (p.seq - 1001) >>> 0 })).filter(({ p }) => p.from === 'client' && p.payloadLength > 0)
    const handshake = encodeHandshakeRequest({ url: '/?stmp_version=3&stmp_content_type=application/json&stmp_server_latency=1', headers: { authorization: 'Bearer x' } }).length
    const request1 = encodeFrame({ kind: 'request', id: 1, action: 'user.get', payload: json({ id: 7 }), follow: false, fin: false }, LATENCY).length
    return { packets, segments, handshake, request1, total: segments.reduce((n, { p }) => n + p.payloadLength, 0) }
  }

  it('a missing segment inside a frame whose LENGTH and head came before it: that frame lost, decoding goes on after it', () => {
    const { packets, segments, handshake, request1 } = clientLayout()
    // The first 7-byte segment that starts after request 1's LENGTH, head and id, and ends inside it.
    const dropped = segments.find(({ at }) => at >= handshake + 3) as (typeof segments)[number]
    expect(dropped.at + 7).toBeLessThan(handshake + request1)
    const { lines, stmp } = decodeJson(file(packets.filter((_, i) => i !== dropped.i)))
    expect(lines.filter((l) => l.gap !== undefined)).toEqual([{ gap: { connection: CONN, direction: 'client', offset: dropped.at, bytes: 7, time: expect.any(String) } }])
    expect(lines.filter((l) => l.undecodable !== undefined)).toEqual([{
      undecodable: { connection: CONN, direction: 'client', offset: handshake, bytes: request1, lost: 'frame', kind: 'request', id: 1, time: expect.any(String) },
    }])
    // Every frame but request 1 is decoded, in both directions (the client's after the gap once the gap is declared, at its FIN).
    for (const side of ['client', 'server']) {
      expect(brief(lines).filter((l) => l.startsWith(side))).toEqual(EXPECTED.filter((l) => l.startsWith(side) && !l.startsWith('client request 1 ')))
    }
    expect(frames(lines).find((l) => l.kind === 'request' && l.id === 2)).toMatchObject({ offset: handshake + request1 })
    expect(stmp.summary).toMatchObject({ gaps: 1, gapBytes: 7, lostFrames: 1, errors: 0 })
  })

  it('a missing segment across a frame boundary: a gap object, the rest of that direction undecodable, the other direction decoded', () => {
    const { packets, segments, handshake, request1, total } = clientLayout()
    // The segment that holds the end of request 1 and the one after it: the gap starts inside request 1 and runs past its end.
    const last = segments.findIndex(({ at }) => at < handshake + request1 && at + 7 >= handshake + request1)
    const dropped = [segments[last], segments[last + 1]]
    expect(dropped[0].at).toBeGreaterThan(handshake + 3)
    const { lines, stmp } = decodeJson(file(packets.filter((_, i) => i !== dropped[0].i && i !== dropped[1].i)))
    expect(lines.filter((l) => l.gap !== undefined)).toEqual([{ gap: { connection: CONN, direction: 'client', offset: dropped[0].at, bytes: 14, time: expect.any(String) } }])
    // From request 1's first byte to the end of the client stream: nothing after it is guessed at.
    expect(lines.filter((l) => l.undecodable !== undefined)).toEqual([{
      undecodable: { connection: CONN, direction: 'client', offset: handshake, bytes: total - handshake, time: expect.any(String) },
    }])
    const client = frames(lines).filter((l) => l.direction === 'client')
    expect(client.map((l) => l.kind)).toEqual(['handshake-request'])
    // The server direction is whole.
    expect(brief(lines).filter((l) => l.startsWith('server'))).toEqual(EXPECTED.filter((l) => l.startsWith('server')))
    expect(stmp.summary).toMatchObject({ gaps: 1, gapBytes: 14, lostFrames: 0, errors: 0 })
  })

  it('a missing segment at a frame boundary or inside a frame\'s head and id: the rest undecodable', () => {
    const cases = [
      // 7-byte segments: one starts exactly at request 2 (request 1 is 21 bytes).
      { layout: clientLayout(7), pick: (at: number, h: number, r1: number) => at === h + r1 },
      // 2-byte segments: the one with request 1's id bytes (its LENGTH and head byte came before it).
      { layout: clientLayout(2), pick: (at: number, h: number) => at === h + 2 },
    ]
    for (const { layout, pick } of cases) {
      const { packets, segments, handshake, request1, total } = layout
      expect(request1).toBe(21)
      const dropped = segments.find(({ at }) => pick(at, handshake, request1)) as (typeof segments)[number]
      const { lines, stmp } = decodeJson(file(packets.filter((_, i) => i !== dropped.i)))
      const undecodable = lines.filter((l) => l.undecodable !== undefined).map((l) => l.undecodable as Line)
      expect(undecodable).toEqual([{ connection: CONN, direction: 'client', offset: dropped.at === handshake + 2 ? handshake : dropped.at, bytes: expect.any(Number), time: expect.any(String) }])
      expect((undecodable[0].offset as number) + (undecodable[0].bytes as number)).toBe(total)
      expect(stmp.summary).toMatchObject({ gaps: 1, lostFrames: 0, errors: 0 })
    }
  })

  it('fragmented messages across a gap: the lost fragment reported, the others decoded; with --messages the message is not joined', () => {
    const c = new TcpConversation({ client: CLIENT, server: SERVER })
    const opts: FrameOptions = { format: 'binary', framing: 'stream', serverLatency: false }
    const parts = encodeFragmented({ kind: 'request', id: 5, action: 'upload', payload: json({ blob: 'x'.repeat(5000) }), follow: false, fin: false }, opts, 1024)
    const after = encodeFrame({ kind: 'request', id: 6, action: 'after', payload: json(1), follow: false, fin: false }, opts)
    const handshake = encodeHandshakeRequest({ url: '/', headers: {} })
    const open = c.handshake()
    const client = c.send('client', Buffer.concat([handshake, ...parts, after]), 100)
    const partAt = (k: number) => handshake.length + parts.slice(0, k).reduce((n, p) => n + p.length, 0)
    // Drop the segments wholly inside fragment 2 (the third), past its first 3 bytes.
    const inside = (p: TcpPacketOut) => { const at = (p.seq - 1001) >>> 0; return at >= partAt(2) + 3 && at + p.payloadLength <= partAt(3) }
    const kept = client.filter((p) => !inside(p))
    expect(client.length - kept.length).toBeGreaterThan(2)
    const packets = [...open, ...kept, ...c.send('server', encodeHandshakeResponse({ status: 200, message: '' })), ...c.close()]

    const raw = decodeJson(file(packets))
    const requests = frames(raw.lines).filter((l) => l.kind === 'request')
    expect(requests.map((l) => [l.id, l.follow, l.fin])).toEqual([...parts.map((_, i) => [5, i > 0, i < parts.length - 1]).filter((_, i) => i !== 2), [6, false, false]])
    expect(raw.lines.filter((l) => l.undecodable !== undefined).map((l) => l.undecodable)).toEqual([
      { connection: CONN, direction: 'client', offset: partAt(2), bytes: parts[2].length, lost: 'frame', kind: 'request', id: 5, time: expect.any(String) },
    ])
    expect(raw.stmp.summary).toMatchObject({ errors: 0, lostFrames: 1 })

    const joined = decodeJson(file(packets), { messages: true })
    const lines = joined.lines.filter((l) => l.undecodable !== undefined || l.kind === 'request')
    expect(lines.map((l) => (l.undecodable !== undefined ? `undecodable ${(l.undecodable as Line).lost} ${(l.undecodable as Line).offset}` : `request ${l.id} ${l.follow} ${l.fin} ${l.fragments ?? '-'}`))).toEqual([
      `undecodable frame ${partAt(2)}`,
      `undecodable message ${partAt(0)}`,
      ...parts.slice(3).map((_, i) => `request 5 true ${i + 3 < parts.length - 1} -`),
      'request 6 false false -',
    ])
    expect((joined.lines.find((l) => (l.undecodable as Line | undefined)?.lost === 'message')?.undecodable as Line).bytes).toBe(partAt(2) - partAt(0))
    expect(joined.stmp.summary.errors).toBe(0)
  })

  it('a segment sent as IP fragments: each fragment reported, not reassembled; its bytes are a gap', () => {
    const { packets, segments, handshake, request1 } = clientLayout()
    const cut = segments.find(({ at }) => at >= handshake + 3) as (typeof segments)[number]
    // The IPv4 payload (TCP header + 7 bytes) in two fragments, as a router would split it.
    const tcp = cut.p.ip.subarray(20)
    const frag = (payload: Buffer, fragmentOffset: number, moreFragments: boolean) =>
      ({ ...cut.p, ip: ipv4Packet({ src: CLIENT.ip, dst: SERVER.ip, protocol: IpProtocol.TCP, payload, id: 0x4242, fragmentOffset, moreFragments }) })
    const fragmented = [...packets.slice(0, cut.i), frag(tcp.subarray(0, 16), 0, true), frag(tcp.subarray(16), 16, false), ...packets.slice(cut.i + 1)]
    const { lines, stmp } = decodeJson(file(fragmented))
    expect(lines.filter((l) => l.ipFragment !== undefined).map((l) => l.ipFragment)).toEqual([
      { src: CLIENT.ip, dst: SERVER.ip, id: 0x4242, offset: 0, more: true, bytes: 16, packet: cut.i + 1, time: expect.any(String) },
      { src: CLIENT.ip, dst: SERVER.ip, id: 0x4242, offset: 16, more: false, bytes: tcp.length - 16, packet: cut.i + 2, time: expect.any(String) },
    ])
    expect(lines.filter((l) => l.gap !== undefined)).toEqual([{ gap: { connection: CONN, direction: 'client', offset: cut.at, bytes: 7, time: expect.any(String) } }])
    expect(lines.filter((l) => l.undecodable !== undefined).map((l) => (l.undecodable as Line).offset)).toEqual([handshake])
    expect(frames(lines).some((l) => l.kind === 'request' && l.id === 1)).toBe(false)
    expect(request1).toBeGreaterThan(cut.at + 7 - handshake)
    expect(stmp.summary).toMatchObject({ ipFragments: 2, gaps: 1, errors: 0 })
    // Fragments of other protocols are none of ours: not printed, not counted.
    const udp = { ...cut.p, ip: ipv4Packet({ src: CLIENT.ip, dst: SERVER.ip, protocol: 17, payload: Buffer.alloc(8), id: 1, moreFragments: true }) }
    const other = decodeJson(file([...packets.slice(0, 4), udp, ...packets.slice(4)]))
    expect(other.lines.filter((l) => l.ipFragment !== undefined)).toEqual([])
    expect(other.stmp.summary.ipFragments).toBe(0)
  })

  it('a packet cut short by the snap length: its missing bytes are a gap, and the summary counts it', () => {
    const { packets, segments, handshake } = clientLayout()
    const cut = segments.find(({ at }) => at >= handshake + 3) as (typeof segments)[number]
    const writer = new CaptureWriter({ format: 'pcap', linkType: LinkType.ETHERNET })
    const frame = linkFrame(LinkType.ETHERNET, cut.p.ip)
    // Ethernet 14 + IPv4 20 + TCP 20 + 3 of the segment's 7 payload bytes, as `tcpdump -s 57` keeps.
    const records = packets.map((p, i) => (i === cut.i ? writer.record(p.time, frame.subarray(0, 57), 0, frame.length) : writer.packet(p.time, p.ip)))
    const stmp = new CaptureStmpDecoder(() => undefined)
    const decoder = new CaptureDecoder((event) => stmp.event(event))
    decoder.write(Buffer.concat([writer.header(), ...records]))
    decoder.end()
    stmp.end()
    stmp.setPackets(decoder.stats.packets, decoder.stats.cutShort)
    expect(stmp.summary).toMatchObject({ cutShortPackets: 1, gaps: 1, gapBytes: 4, lostFrames: 1, errors: 0 })
    expect(captureSummaryLine(stmp.summary, 'pcap', 0)).toContain('1 packet cut short by the snap length')
  })

  it('reads SLL2, VLAN-tagged Ethernet, NULL and raw-IP link layers alike', () => {
    const packets = stmpConversation()
    for (const options of [
      { linkType: LinkType.LINUX_SLL2 }, { linkType: LinkType.ETHERNET, link: { vlans: [100, { tpid: 0x88a8, id: 7 }] } },
      { linkType: LinkType.NULL }, { linkType: LinkType.RAW },
    ] satisfies Partial<CaptureWriterOptions>[]) {
      expect(brief(decodeJson(file(packets, options)).lines)).toEqual(EXPECTED)
    }
    // pcapng with an SLL2 interface too.
    expect(brief(decodeJson(file(packets, { format: 'pcapng', interfaces: [{ linkType: LinkType.LINUX_SLL2, tsresol: 9 }] })).lines)).toEqual(EXPECTED)
  })

  it('nanosecond pcap: time is the nanoseconds truncated to microseconds', () => {
    const packets = stmpConversation()
    const base = 1_795_316_645_123_456_999n // 2026-11-22T03:04:05.123456999Z
    const { lines } = decodeJson(file(packets, { nanosecond: true }, packets.map(() => base)))
    for (const f of frames(lines)) expect(f.time).toBe('2026-11-22T03:04:05.123456Z')
    const formatter = new IsoTime()
    expect(formatter.format(1_795_316_645_999_999_999n)).toBe('2026-11-22T03:04:05.999999Z')
    expect(formatter.format(1_795_316_646_000_000_000n)).toBe('2026-11-22T03:04:06.000000Z')
  })

  it('fragmented messages: frame by frame by default, joined with messages', () => {
    const c = new TcpConversation({ client: CLIENT, server: SERVER })
    const big = json({ blob: 'x'.repeat(5000) })
    const opts: FrameOptions = { format: 'binary', framing: 'stream', serverLatency: false }
    const parts = encodeFragmented({ kind: 'request', id: 5, action: 'upload', payload: big, follow: false, fin: false }, opts, 1024)
    const reply = encodeFragmented({ kind: 'response', id: 5, status: 200, latency: null, payload: big, follow: false, fin: false }, opts, 2000)
    const packets = [
      ...c.handshake(),
      ...c.send('client', encodeHandshakeRequest({ url: '/', headers: {} })),
      ...c.send('server', encodeHandshakeResponse({ status: 200, message: '' })),
      // Interleave a ping between fragments (wire notes §7: other frames may come between).
      ...c.send('client', Buffer.concat([parts[0], encodeFrame({ kind: 'ping', id: 1 }), ...parts.slice(1)])),
      ...c.send('server', Buffer.concat([encodeFrame({ kind: 'ping', id: 1 }), ...reply])),
      ...c.close(),
    ]
    const raw = frames(decodeJson(file(packets)).lines)
    const requests = raw.filter((l) => l.kind === 'request')
    expect(requests).toHaveLength(parts.length)
    expect(requests.map((l) => [l.follow, l.fin])).toEqual(parts.map((_, i) => [i > 0, i < parts.length - 1]))
    expect(requests[0].action).toBe('upload')
    expect(requests[0].payload).toBeUndefined() // a fragment alone is not the JSON value

    const joined = frames(decodeJson(file(packets), { messages: true }).lines)
    expect(joined.map((l) => `${l.direction} ${l.kind}`)).toEqual(['client handshake-request', 'server handshake-response', 'client ping', 'client request', 'server ping', 'server response'])
    const request = joined[3]
    expect(request).toMatchObject({ kind: 'request', id: 5, action: 'upload', follow: false, fin: false, fragments: parts.length, payload: { blob: 'x'.repeat(5000) } })
    expect(request.length).toBe(parts.reduce((n, p) => n + p.length, 0))
    expect(joined[5]).toMatchObject({ kind: 'response', status: 200, fragments: reply.length, payload: { blob: 'x'.repeat(5000) } })
  })

  it('a connection that starts with a TLS record is skipped and counted as TLS', () => {
    const tls = new TcpConversation({ client: { ip: '10.1.0.9', port: 40001 }, server: { ip: '10.1.0.2', port: 5443 } })
    // A ClientHello's record header and the start of its handshake message.
    const hello = Buffer.from('16030100a5010000a10303', 'hex')
    const { stmp } = decodeJson(file([...tls.handshake(), ...tls.send('client', hello), ...tls.close(), ...stmpConversation()]))
    expect(stmp.summary).toMatchObject({ connections: 2, skippedConnections: 1, skippedTls: 1, stmpConnections: { stream: 1 } })
  })

  it('skips connections that are not STMP; --port decodes them anyway', () => {
    const stmp = stmpConversation()
    const other = new TcpConversation({ client: { ip: '10.1.0.9', port: 40000 }, server: { ip: '10.1.0.2', port: 80 } })
    const http = [...other.handshake(), ...other.send('client', Buffer.from('POST / HTTP/1.1\r\nHost: x\r\n\r\n')), ...other.send('server', Buffer.from('HTTP/1.1 200 OK\r\n\r\n')), ...other.close()]
    const mixed = file([...stmp.slice(0, 5), ...http, ...stmp.slice(5)])
    const auto = decodeJson(mixed)
    expect(brief(auto.lines)).toEqual(EXPECTED)
    expect(auto.stmp.summary).toMatchObject({ connections: 2, skippedConnections: 1, stmpConnections: { stream: 1 } })
    const port = decodeJson(mixed, { ports: [9000] })
    expect(brief(port.lines)).toEqual(EXPECTED)
    expect(port.stmp.summary.skippedConnections).toBe(1)
    // --port 80 forces the HTTP connection through the STMP decoder: protocol errors, and the STMP one is skipped.
    const forced = decodeJson(mixed, { ports: [80] })
    expect(frames(forced.lines)).toEqual([])
    expect(forced.stmp.summary.errors).toBeGreaterThan(0)
    expect(forced.lines.filter((l) => l.error !== undefined)[0]).toMatchObject({ connection: '10.1.0.9:40000 -> 10.1.0.2:80', direction: 'client', time: expect.any(String) })
  })

  it('a connection picked up mid-stream (no SYN) is decoded without a handshake with --port', () => {
    const c = new TcpConversation({ client: CLIENT, server: SERVER })
    const packets = [
      ...c.send('client', encodeFrame({ kind: 'request', id: 4, action: 'a', payload: json(1), follow: false, fin: false })),
      ...c.send('server', encodeFrame({ kind: 'response', id: 4, status: 200, latency: 2, payload: json(2), follow: false, fin: false }, LATENCY)),
    ]
    expect(decodeJson(file(packets)).stmp.summary.skippedConnections).toBe(1)
    const { lines } = decodeJson(file(packets), { ports: [9000], serverLatency: true })
    expect(brief(lines)).toEqual(['client request 4 a 1', 'server response 4 200 2'])
    expect(frames(lines)[1].latency).toBe(2)
  })

  it('protocol errors carry their connection, direction, time and stream offset; decoding goes on', () => {
    const c = new TcpConversation({ client: CLIENT, server: SERVER })
    const bad = Buffer.from([0x04, 0x10, 0x00, 0x01, 0x61]) // a request without its \n
    const good = encodeFrame({ kind: 'ping', id: 3 })
    const hs = encodeHandshakeRequest({ url: '/', headers: {} })
    const packets = [...c.handshake(), ...c.send('client', Buffer.concat([hs, bad, good])), ...c.close()]
    const { lines, stmp } = decodeJson(file(packets))
    const errors = lines.filter((l) => l.error !== undefined)
    expect(errors).toEqual([{ error: { code: 'NO_ACTION_END', message: expect.any(String), offset: hs.length }, connection: CONN, direction: 'client', time: expect.any(String) }])
    expect(brief(lines)).toEqual(['client handshake-request  / null', 'client ping 3  null'])
    expect(stmp.summary.errorCodes).toEqual({ NO_ACTION_END: 1 })
  })

  it('an unfinished frame at the end of a connection is TRUNCATED', () => {
    const c = new TcpConversation({ client: CLIENT, server: SERVER })
    const frame = encodeFrame({ kind: 'request', id: 1, action: 'a', payload: json({ x: 1 }), follow: false, fin: false })
    const packets = [...c.handshake(), ...c.send('client', Buffer.concat([encodeHandshakeRequest({ url: '/', headers: {} }), frame.subarray(0, 5)])), ...c.close()]
    const { lines } = decodeJson(file(packets))
    expect(lines.filter((l) => l.error !== undefined).map((l) => (l.error as { code: string }).code)).toEqual(['TRUNCATED'])
  })
})

describe('protobuf payloads with --proto', () => {
  const PROTO = join(ROOT, 'examples/echo.proto')
  const codec = new ProtobufCodec(ProtoRegistry.load([PROTO]))
  const note = (value: unknown, role: 'request' | 'response' | 'push' = 'request', action = 'echo.v1.Echo/Say') => codec.encode(value, { action, role })
  function protobufCapture(): Buffer {
    const c = new TcpConversation({ client: CLIENT, server: SERVER })
    const opts: FrameOptions = { format: 'binary', framing: 'stream', serverLatency: false }
    const req = (id: number, action: string, payload: Buffer): Frame => ({ kind: 'request', id, action, payload, follow: false, fin: false })
    const res = (id: number, status: number, payload: Buffer): Frame => ({ kind: 'response', id, status, latency: null, payload, follow: false, fin: false })
    return file([
      ...c.handshake(),
      ...c.send('client', encodeHandshakeRequest({ url: '/?stmp_content_type=application/protobuf', headers: {} })),
      ...c.send('server', encodeHandshakeResponse({ status: 200, message: 'OK' })),
      ...c.send('client', encodeFrame(req(1, 'echo.v1.Echo/Say', note({ text: 'hi', id: '7', tags: ['a'] })), opts)),
      ...c.send('client', encodeFrame(req(2, 'echo.v1.Echo/Nope', Buffer.from([8, 1])), opts)),
      ...c.send('server', encodeFrame(res(1, 200, note({ text: 'hi back', id: '8' }, 'response')), opts)),
      ...c.send('server', encodeFrame(res(2, 404, Buffer.from('no handler for echo.v1.Echo/Nope')), opts)),
      ...c.send('server', encodeFrame({ kind: 'push', id: 1, action: 'echo.v1.Note', payload: note({ text: 'news' }, 'push', 'echo.v1.Note'), follow: false, fin: false }, opts)),
      ...c.close(),
    ])
  }

  it('each payload decoded by the type its action names (a response: its request\'s); others stay hex only', () => {
    const { lines, stmp } = decodeJson(protobufCapture(), { proto: { files: [PROTO] } })
    expect(brief(lines).slice(2)).toEqual([
      'client request 1 echo.v1.Echo/Say {"tags":["a"],"text":"hi","id":"7"}',
      'client request 2 echo.v1.Echo/Nope null',
      'server response 1 200 {"tags":[],"text":"hi back","id":"8"}',
      'server response 2 404 "no handler for echo.v1.Echo/Nope"',
      'server push 1 echo.v1.Note {"tags":[],"text":"news","id":"0"}',
    ])
    expect(stmp.summary.errors).toBe(0)
    // Without the .proto files there is nothing to decode by: payloadHex only.
    expect(frames(decodeJson(protobufCapture()).lines).filter((l) => l.kind === 'request' || l.kind === 'push' || (l.kind === 'response' && l.status === 200)).map((l) => l.payload)).toEqual([undefined, undefined, undefined, undefined])
  })

  it('the built CLI: --proto on one thread and on three gives the same lines; a bad .proto file is BAD_PROTO, exit 2', async () => {
    const dir = tempDir('stmpcat-proto-')
    const capture = join(dir, 'pb.pcap')
    writeFileSync(capture, protobufCapture())
    const [one, three] = await Promise.all([1, 3].map((n) => runCli(['decode', capture, '--json', '--proto', PROTO, '--threads', String(n)])))
    expect(one.code).toBe(0)
    expect(three.stdout).toBe(one.stdout)
    expect(one.stdout).toContain('"payload":{"tags":["a"],"text":"hi","id":"7"}')
    const bad = await runCli(['decode', capture, '--json', '--proto', join(dir, 'missing.proto')])
    expect(bad.code).toBe(2)
    expect(JSON.parse(bad.stdout.trim())).toMatchObject({ error: { code: 'BAD_PROTO' } })
    const bytes = await runCli(['decode', '--proto', PROTO], { stdin: Buffer.from('03 00 00 07') })
    expect(bytes.code).toBe(2)
    expect(bytes.stderr).toMatch(/BAD_FLAG/)
  }, 120_000)
})

describe('STMP over WebSocket in a capture', () => {
  const KEY = 'dGhlIHNhbXBsZSBub25jZQ=='
  const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
  const mask = Buffer.from([1, 2, 3, 4])
  function wsCapture(url: string, frames: Array<{ from: 'client' | 'server'; opcode: number; payload: Buffer }>): Buffer {
    const c = new TcpConversation({ client: CLIENT, server: { ip: SERVER.ip, port: 8080 } })
    const packets = [
      ...c.handshake(),
      ...c.send('client', Buffer.from(`GET ${url} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`)),
      ...c.send('server', Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`)),
      ...frames.flatMap((f) => c.send(f.from, wsFrame({ opcode: f.opcode, payload: f.payload, mask: f.from === 'client' ? mask : undefined }))),
      ...c.close(),
    ]
    return file(packets, { format: 'pcapng' })
  }
  const ws: FrameOptions = { format: 'binary', framing: 'websocket', serverLatency: true }
  const wsText: FrameOptions = { ...ws, format: 'text' }

  it('decodes binary and text messages by opcode, with the upgrade URL options', () => {
    const capture = wsCapture('/rpc?stmp_server_latency=1', [
      { from: 'client', opcode: 2, payload: encodeFrame({ kind: 'request', id: 1, action: 'sum', payload: json([1, 2]), follow: false, fin: false }, ws) },
      { from: 'server', opcode: 2, payload: encodeFrame({ kind: 'response', id: 1, status: 200, latency: 5, payload: json(3), follow: false, fin: false }, ws) },
      { from: 'client', opcode: 1, payload: encodeFrame({ kind: 'request', id: 2, action: 'echo', payload: json('hi'), follow: false, fin: false }, wsText) },
      { from: 'server', opcode: 1, payload: encodeFrame({ kind: 'response', id: 2, status: 200, latency: 1, payload: json('hi'), follow: false, fin: false }, wsText) },
    ])
    const { lines, stmp } = decodeJson(capture)
    expect(brief(lines)).toEqual([
      'client handshake-request  /rpc?stmp_server_latency=1 null', 'server handshake-response  101 null',
      'client request 1 sum [1,2]', 'server response 1 200 3', 'client request 2 echo "hi"', 'server response 2 200 "hi"',
    ])
    const f = frames(lines)
    expect(f.slice(0, 2).map((l) => l.format)).toEqual(['http', 'http'])
    expect(f.slice(2).map((l) => `${l.transport} ${l.format}`)).toEqual(['websocket binary', 'websocket binary', 'websocket text', 'websocket text'])
    expect(f[3].latency).toBe(5)
    expect(stmp.summary.stmpConnections).toEqual({ stream: 0, websocket: 1 })
  })

  it('a WebSocket close frame is the STMP Close: a close line with its code and reason (1005 when it has none); ping and pong are not STMP', () => {
    const close = (code: number, reason: string) => Buffer.concat([Buffer.from([code >> 8, code & 255]), Buffer.from(reason)])
    const capture = wsCapture('/', [
      { from: 'client', opcode: 9, payload: Buffer.from('hb') },
      { from: 'server', opcode: 10, payload: Buffer.from('hb') },
      { from: 'client', opcode: 8, payload: close(1001, 'going away: é') },
      { from: 'server', opcode: 8, payload: Buffer.alloc(0) },
    ])
    const { lines, stmp } = decodeJson(capture)
    const closes = frames(lines).filter((l) => l.kind === 'close')
    expect(closes).toEqual([
      { kind: 'close', status: 1001, message: 'going away: é', offset: expect.any(Number), length: 16, time: expect.any(String), connection: expect.any(String), direction: 'client', transport: 'websocket', format: 'control' },
      { kind: 'close', status: 1005, message: '', offset: expect.any(Number), length: 0, time: expect.any(String), connection: expect.any(String), direction: 'server', transport: 'websocket', format: 'control' },
    ])
    // Each close follows its side's ping or pong frame: 2 + 4 (mask) + 2 bytes for the client's, 2 + 2 for the server's pong.
    const head = (side: string) => (side === 'client'
      ? `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`.length
      : `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`.length)
    expect(closes.map((l) => l.offset)).toEqual([head('client') + 8, head('server') + 4])
    expect(frames(lines).map((l) => l.kind)).toEqual(['handshake-request', 'handshake-response', 'close', 'close'])
    expect(stmp.summary.framesByKind).toMatchObject({ close: 2 })
    // --kind close selects them.
    expect(frames(decodeJson(capture, { filter: { kinds: ['close'] } }).lines)).toHaveLength(2)
  })

  it('a gap inside a WebSocket message: an undecodable line for it, the next messages decoded, exit-status clean', () => {
    const c = new TcpConversation({ client: CLIENT, server: { ip: SERVER.ip, port: 8080 } })
    const request = Buffer.from(`GET /?stmp_server_latency=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
    const messages = [1, 2, 3].map((id) => wsFrame({ opcode: 2, payload: encodeFrame({ kind: 'request', id, action: 'big', payload: json({ pad: 'x'.repeat(300) }), follow: false, fin: false }, ws), mask }))
    const open = [...c.handshake(), ...c.send('client', request), ...c.send('server', Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`))]
    const segments = c.send('client', Buffer.concat(messages), 100)
    // The second 100-byte segment lies inside message 1 (each is over 300 bytes).
    const packets = [...open, ...segments.filter((_, i) => i !== 1), ...c.close()]
    const { lines, stmp } = decodeJson(file(packets))
    expect(lines.filter((l) => l.undecodable !== undefined).map((l) => l.undecodable)).toEqual([
      { connection: '10.1.0.1:51000 -> 10.1.0.2:8080', direction: 'client', offset: request.length, bytes: messages[0].length, lost: 'frame', time: expect.any(String) },
    ])
    expect(frames(lines).filter((l) => l.kind === 'request').map((l) => [l.id, l.offset])).toEqual([[2, request.length + messages[0].length], [3, request.length + messages[0].length + messages[1].length]])
    expect(stmp.summary).toMatchObject({ errors: 0, gaps: 1, gapBytes: 100, lostFrames: 1 })
  })

  it('a bad message is an error at the message offset; the next one decodes', () => {
    const capture = wsCapture('/', [
      { from: 'client', opcode: 1, payload: Buffer.from('zAAE') },
      { from: 'client', opcode: 1, payload: Buffer.from('pAAE') },
    ])
    const { lines } = decodeJson(capture)
    const errors = lines.filter((l) => l.error !== undefined)
    expect(errors.map((l) => [(l.error as { code: string }).code, l.direction])).toEqual([['BAD_KIND', 'client']])
    expect(frames(lines).at(-1)).toMatchObject({ kind: 'ping', id: 1, format: 'text' })
  })
})

describe('filters', () => {
  const capture = file(stmpConversation())
  it('--action matches requests and, through their ids, their responses', () => {
    expect(brief(decodeJson(capture, { filter: { action: 'user.*' } }).lines)).toEqual([
      'client request 1 user.get {"id":7}', 'client request 2 user.list {"page":2}', 'server response 1 200 {"name":"ann"}', 'server response 2 404 "no handler for user.list"',
    ])
    expect(brief(decodeJson(capture, { filter: { action: 'user.?et', kinds: ['response'] } }).lines)).toEqual(['server response 1 200 {"name":"ann"}'])
  })
  it('--kind, --status and --connection', () => {
    expect(brief(decodeJson(capture, { filter: { kinds: ['ping', 'push'] } }).lines)).toEqual(['client ping 9  null', 'server ping 9  null', 'server push 1 news ["a",1]'])
    expect(brief(decodeJson(capture, { filter: { status: ['4xx'] } }).lines)).toEqual(['server response 2 404 "no handler for user.list"'])
    const byStatus = decodeJson(capture, { filter: { status: ['200'], kinds: ['response'] } })
    expect(brief(byStatus.lines)).toHaveLength(2)
    expect(byStatus.stmp.summary).toMatchObject({ frames: 11, shown: 2 })
    expect(frames(decodeJson(capture, { filter: { connection: '10.1.0.1:51000' } }).lines)).toHaveLength(11)
    expect(frames(decodeJson(capture, { filter: { connection: ':51001' } }).lines)).toHaveLength(0)
  })
  it('helpers: globs, status classes, URL options', () => {
    expect(globToRegExp('a.*').test('a.b.c')).toBe(true)
    expect(globToRegExp('a.*').test('ab')).toBe(false)
    expect(globToRegExp('a?c').test('abc')).toBe(true)
    const m = statusMatcher(['2xx', '404'])
    expect([200, 299, 300, 404, 405].map(m)).toEqual([true, true, false, true, false])
    expect(() => statusMatcher(['ok'])).toThrow(expect.objectContaining({ code: 'BAD_FLAG' }))
    expect(urlOptions('/x?stmp_content_type=application/msgpack&STMP_SERVER_LATENCY=1')).toEqual({ codec: 'msgpack', serverLatency: true })
    expect(urlOptions('/')).toEqual({ codec: 'json', serverLatency: false })
    expect(urlOptions('/?stmp_content_type=foo/bar')).toEqual({ codec: undefined, serverLatency: false })
  })
})

describe('writer used as a stream source', () => {
  it('CaptureWriter pieces concatenated equal buildCapture', () => {
    const packets = stmpConversation()
    const w = new CaptureWriter({ format: 'pcap', linkType: LinkType.ETHERNET })
    const pieces = Buffer.concat([w.header(), ...packets.map((p) => w.packet(p.time, p.ip))])
    expect(pieces.equals(file(packets))).toBe(true)
  })
})

describe('CaptureNdjson (the Buffer writer on the hot path)', () => {
  it('writes the same bytes as captureLine for every kind of line, across chunk boundaries', async () => {
    const { CaptureNdjson } = await import('../../src/lib/render/capture-ndjson.js')
    const events: Parameters<CaptureStmpDecoder['event']>[0][] = []
    const c = new TcpConversation({ client: CLIENT, server: SERVER })
    const d = new TcpConversation({ client: { ...CLIENT, port: CLIENT.port + 1 }, server: SERVER })
    const opts: FrameOptions = { format: 'binary', framing: 'stream', serverLatency: false }
    const big = encodeFragmented({ kind: 'push', id: 2, action: 'p\u00e9"q', payload: json({ text: 'é'.repeat(3000) }), follow: false, fin: false }, opts, 1000)
    const packets = [
      ...stmpConversation(),
      ...c.handshake(),
      ...c.send('client', encodeHandshakeRequest({ url: '/?stmp_content_type=text/plain', headers: {} })),
      ...c.send('client', Buffer.concat([...big, encodeFrame({ kind: 'request', id: 3, action: 'x', payload: Buffer.from('{\n"multi": "line"}'), follow: false, fin: false }, opts)])),
      ...c.send('client', encodeFrame({ kind: 'request', id: 4, action: 'y', payload: Buffer.from([0xff, 0]), follow: false, fin: false }, opts)),
      // JSON: a payload of odd length, a 404's message, and a number followed by bytes that would continue it.
      ...d.handshake(),
      ...d.send('client', encodeHandshakeRequest({ url: '/?stmp_version=3', headers: {} })),
      ...d.send('server', Buffer.concat([
        encodeHandshakeResponse({ status: 200, message: 'OK' }),
        encodeFrame({ kind: 'response', id: 3, status: 200, payload: Buffer.from('{"a":1}'), follow: false, fin: false }, opts),
        encodeFrame({ kind: 'response', id: 4, status: 404, payload: Buffer.from('no such thing'), follow: false, fin: false }, opts),
        encodeFrame({ kind: 'push', id: 5, action: 'n', payload: Buffer.from('12'), follow: false, fin: false }, opts),
        // 46 bytes after LENGTH: its LENGTH byte is 0x2e, a `.` right after the `12`.
        encodeFrame({ kind: 'push', id: 6, action: 'n', payload: Buffer.from(`"${'x'.repeat(39)}"`), follow: false, fin: false }, opts),
      ])),
    ]
    const capture = file(packets)
    // Each way a line is made: one object per frame, and (`heads`) straight from the frame's bytes.
    for (const [messages, heads] of [[false, false], [true, false], [false, true], [true, true]]) {
      events.length = 0
      const expected: string[] = []
      const time = new IsoTime()
      const stmp = new CaptureStmpDecoder((event) => { events.push(event as never); expected.push(captureLine(event, time)) }, { messages })
      const decoder = new CaptureDecoder((event) => stmp.event(event))
      decoder.write(capture)
      decoder.end()
      stmp.end()
      const chunks: Buffer[] = []
      const out = new CaptureNdjson((chunk) => chunks.push(Buffer.from(chunk)))
      const stmp2 = new CaptureStmpDecoder((event) => out.event(event), { messages }, heads ? (event) => out.head(event) : undefined)
      const decoder2 = new CaptureDecoder((event) => stmp2.event(event))
      decoder2.write(capture)
      decoder2.end()
      stmp2.end()
      out.flush()
      expect(Buffer.concat(chunks).toString('utf8')).toBe(expected.join(''))
      expect(expected.length).toBeGreaterThan(12)
    }
  })

  it('over many 1 MiB Buffers used again (old bytes in them): every line whole, no byte of a piece stored past its end left over', async () => {
    const { CaptureNdjson, ChunkPool } = await import('../../src/lib/render/capture-ndjson.js')
    const base = { type: 'frame' as const, connection: '10.0.0.1:4000 -> 10.0.0.2:5000', connId: 1, transport: 'stream' as const, format: 'binary' as const }
    const events = Array.from({ length: 14_000 }, (_, i) => {
      // Every length of action and payload mod 4 and mod 2, JSON and not, so pieces end at every alignment.
      const payload = i % 3 === 0 ? Buffer.from(JSON.stringify('y'.repeat(i % 61))) : Buffer.from('z'.repeat(i % 57))
      const frame = i % 2 === 0
        ? { kind: 'request' as const, id: i % 65536, action: `svc.${'m'.repeat(i % 13)}`, payload, follow: false, fin: false }
        : { kind: 'response' as const, id: i % 65536, status: 200 + (i % 7), latency: i % 5 === 0 ? null : i % 300, payload, follow: false, fin: false }
      return { ...base, frame, offset: i * 37, length: 20 + (i % 4096), time: 1_767_225_600_000_000_000n + BigInt(Math.floor(i / 7) * 1000), direction: i % 4 < 2 ? 'client' as const : 'server' as const, codec: i % 5 === 0 ? 'text' as const : 'json' as const }
    })
    const pool = new ChunkPool(2)
    const chunks: Buffer[] = []
    const out = new CaptureNdjson((chunk) => { chunks.push(Buffer.from(chunk)); pool.give(chunk) }, pool.take)
    for (const event of events) out.event(event)
    out.flush()
    const time = new IsoTime()
    const expected = events.map((e) => captureLine(e, time)).join('')
    expect(chunks.length).toBeGreaterThan(3)
    expect(Buffer.concat(chunks).toString('utf8') === expected).toBe(true)
  })

  it('writes every width of number: ids, statuses, latencies, offsets and lengths from 0 past 2^31', async () => {
    const { CaptureNdjson } = await import('../../src/lib/render/capture-ndjson.js')
    const numbers = [0, 7, 10, 99, 100, 999, 1000, 65535, 99_999, 100_000, 999_999, 1_000_000, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 2 ** 53 - 1]
    const events = numbers.flatMap((n, i) => {
      const base = { type: 'frame' as const, offset: n, length: numbers[numbers.length - 1 - i], time: 1_767_225_600_123_456_789n + BigInt(i), connection: '10.0.0.1:4000 -> 10.0.0.2:5000', connId: 1, direction: 'server' as const, transport: 'stream' as const, format: 'binary' as const, codec: 'json' as const }
      const small = n % 65536
      return [
        { ...base, frame: { kind: 'response' as const, id: small, status: n % 1000, latency: small, payload: Buffer.from(String(n)), follow: false, fin: false } },
        { ...base, frame: { kind: 'request' as const, id: small, action: 'a.b', payload: Buffer.from('{}'), follow: false, fin: false }, fragments: n },
      ]
    })
    const chunks: Buffer[] = []
    const out = new CaptureNdjson((chunk) => chunks.push(Buffer.from(chunk)))
    for (const event of events) out.event(event)
    out.flush()
    const time = new IsoTime()
    expect(Buffer.concat(chunks).toString('utf8')).toBe(events.map((e) => captureLine(e, time)).join(''))
  })
})
