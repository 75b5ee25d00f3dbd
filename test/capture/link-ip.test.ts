import { describe, expect, it } from 'vitest'
import { decodeCapture } from '../../src/lib/capture/decoder.js'
import { formatIpv6, IpProtocol, TcpFlag } from '../../src/lib/capture/ip.js'
import { LinkType } from '../../src/lib/capture/types.js'
import {
  CaptureWriter, buildCapture, ipv4Packet, ipv6Bytes, ipv6FragmentHeader, ipv6Packet, tcpPacket, TcpConversation, type LinkOptions,
} from '../helpers/pcap-writer.js'
import { decodeBoth, ofType, streamOf } from './helpers.js'

const REQUEST = Buffer.from('request bytes from the client')
const REPLY = Buffer.from('reply bytes from the server')

function conversation(clientIp: string, serverIp: string): TcpConversation {
  const conv = new TcpConversation({ client: { ip: clientIp, port: 40001 }, server: { ip: serverIp, port: 9000 } })
  return conv
}

function fullExchange(conv: TcpConversation) {
  return [...conv.handshake(), ...conv.send('client', REQUEST, 10), ...conv.send('server', REPLY), ...conv.close()]
}

function captureWith(linkType: number, v6: boolean, link: LinkOptions = {}): Buffer {
  const conv = v6 ? conversation('2001:db8::1', '2001:db8::2') : conversation('192.0.2.1', '192.0.2.2')
  return buildCapture({ format: 'pcap', linkType, link }, fullExchange(conv))
}

describe('link layers', () => {
  const cases: Array<[string, number, boolean, LinkOptions?]> = [
    ['Ethernet', LinkType.ETHERNET, false],
    ['Ethernet, IPv6', LinkType.ETHERNET, true],
    ['Ethernet with an 802.1Q tag', LinkType.ETHERNET, false, { vlans: [42] }],
    ['Ethernet with stacked 802.1ad + 802.1Q tags', LinkType.ETHERNET, true, { vlans: [{ tpid: 0x88a8, id: 100 }, 200] }],
    ['Ethernet padded to 60 bytes', LinkType.ETHERNET, false, { pad: true }],
    ['Linux cooked SLL', LinkType.LINUX_SLL, false],
    ['Linux cooked SLL2', LinkType.LINUX_SLL2, true],
    ['BSD NULL little-endian', LinkType.NULL, false],
    ['BSD NULL big-endian, IPv6', LinkType.NULL, true, { nullBigEndian: true }],
    ['BSD NULL, Linux AF_INET6', LinkType.NULL, true, { inet6Family: 10 }],
    ['OpenBSD LOOP', LinkType.LOOP, true],
    ['raw IP (101), IPv4', LinkType.RAW, false],
    ['raw IP (101), IPv6', LinkType.RAW, true],
    ['LINKTYPE_IPV4 (228)', LinkType.IPV4, false],
    ['LINKTYPE_IPV6 (229)', LinkType.IPV6, true],
    ['DLT_RAW stored as 12, IPv4', LinkType.RAW_DLT12, false],
    ['DLT_RAW stored as 14 (OpenBSD), IPv6', LinkType.RAW_DLT14, true],
  ]
  for (const [name, linkType, v6, link] of cases) {
    it(`${name}: one connection, both streams, no skipped packets`, () => {
      const events = decodeBoth(captureWith(linkType, v6, link))
      expect(ofType(events, 'packet-skipped')).toEqual([])
      const opens = ofType(events, 'tcp-open')
      expect(opens.map((e) => e.connection)).toEqual([v6 ? '[2001:db8::1]:40001 -> [2001:db8::2]:9000' : '192.0.2.1:40001 -> 192.0.2.2:9000'])
      expect(streamOf(events, 'client').toString()).toBe(REQUEST.toString())
      expect(streamOf(events, 'server').toString()).toBe(REPLY.toString())
      expect(ofType(events, 'tcp-close').map((e) => [e.reason, e.clientBytes, e.serverBytes])).toEqual([['fin', REQUEST.length, REPLY.length]])
    })
  }

  it('Ethernet padding is not taken as TCP payload (IPv4 Total Length trims it)', () => {
    const conv = conversation('192.0.2.1', '192.0.2.2')
    const packets = [...conv.handshake(), ...conv.send('client', Buffer.from('x'))]
    const events = decodeCapture(buildCapture({ format: 'pcap', linkType: LinkType.ETHERNET, link: { pad: true } }, packets))
    expect(streamOf(events, 'client').toString()).toBe('x')
  })

  it('counts and skips a linktype it does not know, ARP and UDP', () => {
    const writer = new CaptureWriter({ format: 'pcapng', interfaces: [{ linkType: LinkType.ETHERNET }, { linkType: 147 }] })
    const arp = Buffer.concat([Buffer.alloc(12), Buffer.from([0x08, 0x06]), Buffer.alloc(28)])
    const udp = ipv4Packet({ src: '192.0.2.1', dst: '192.0.2.2', protocol: IpProtocol.UDP, payload: Buffer.alloc(12) })
    const file = Buffer.concat([
      writer.header(), writer.record(1n, Buffer.from('user link type'), 1), writer.record(2n, arp, 0), writer.packet(3n, udp, 0),
      writer.record(4n, Buffer.concat([Buffer.alloc(12), Buffer.from([0x08, 0x00]), Buffer.from([0x45, 0])]), 0),
    ])
    const skipped = ofType(decodeCapture(file), 'packet-skipped')
    expect(skipped.map((e) => [e.packetIndex, e.reason, e.skipped, e.skippedForReason])).toEqual([
      [0, 'link-type', 1, 1], [1, 'not-ip', 2, 1], [2, 'not-tcp', 3, 1], [3, 'malformed', 4, 1],
    ])
  })
})

describe('IP', () => {
  it('skips IPv6 hop-by-hop, routing and destination options headers', () => {
    const conv = conversation('2001:db8::1', '2001:db8::2')
    const plain = fullExchange(conv)
    // Rebuild every packet with three extension headers in front of TCP.
    const extended = plain.map((p) => {
      const tcp = p.ip.subarray(40)
      const ip = ipv6Packet({
        src: '2001:db8::1', dst: '2001:db8::2', nextHeader: IpProtocol.TCP, payload: tcp,
        extensionHeaders: [{ type: IpProtocol.HOP_BY_HOP }, { type: IpProtocol.ROUTING, body: Buffer.alloc(14) }, { type: IpProtocol.DEST_OPTIONS }],
      })
      // The server's packets go the other way.
      if (p.from === 'server') {
        ipv6Bytes('2001:db8::2').copy(ip, 8)
        ipv6Bytes('2001:db8::1').copy(ip, 24)
      }
      return { time: p.time, ip }
    })
    expect(extended[0].ip[6]).toBe(IpProtocol.HOP_BY_HOP)
    const events = decodeBoth(buildCapture({ format: 'pcap', linkType: LinkType.RAW }, extended))
    expect(ofType(events, 'packet-skipped')).toEqual([])
    expect(streamOf(events, 'client').toString()).toBe(REQUEST.toString())
    expect(streamOf(events, 'server').toString()).toBe(REPLY.toString())
  })

  it('reports an IPv4 fragment, and does not reassemble it', () => {
    const tcp = tcpPacket({ src: '192.0.2.1', dst: '192.0.2.2', srcPort: 1, dstPort: 2, seq: 1, flags: TcpFlag.SYN }).subarray(20)
    const first = ipv4Packet({ src: '192.0.2.1', dst: '192.0.2.2', protocol: IpProtocol.TCP, payload: tcp.subarray(0, 16), id: 0x1234, moreFragments: true })
    const second = ipv4Packet({ src: '192.0.2.1', dst: '192.0.2.2', protocol: IpProtocol.TCP, payload: tcp.subarray(16), id: 0x1234, fragmentOffset: 16 })
    const events = decodeBoth(buildCapture({ format: 'pcap', linkType: LinkType.RAW }, [{ time: 1n, ip: first }, { time: 2n, ip: second }]))
    expect(ofType(events, 'ip-fragment').map((e) => [e.packetIndex, e.ipVersion, e.id, e.fragmentOffset, e.moreFragments, e.protocol, e.length])).toEqual([
      [0, 4, 0x1234, 0, true, IpProtocol.TCP, 16], [1, 4, 0x1234, 16, false, IpProtocol.TCP, 4],
    ])
    expect(ofType(events, 'tcp-open')).toEqual([])
  })

  it('reports an IPv6 fragment behind a destination options header', () => {
    const ip = ipv6Packet({
      src: 'fe80::1', dst: 'fe80::2', nextHeader: IpProtocol.TCP, payload: Buffer.alloc(24),
      extensionHeaders: [{ type: IpProtocol.DEST_OPTIONS }, ipv6FragmentHeader({ offset: 1448, moreFragments: true, id: 0xdeadbeef })],
    })
    const events = decodeCapture(buildCapture({ format: 'pcap', linkType: LinkType.RAW }, [{ time: 1n, ip }]))
    expect(ofType(events, 'ip-fragment').map((e) => [e.ipVersion, e.src, e.id, e.fragmentOffset, e.moreFragments, e.protocol])).toEqual([
      [6, 'fe80::1', 0xdeadbeef, 1448, true, IpProtocol.TCP],
    ])
  })

  it('prints IPv6 addresses in RFC 5952 form', () => {
    expect(formatIpv6(ipv6Bytes('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1')
    expect(formatIpv6(ipv6Bytes('::1'))).toBe('::1')
    expect(formatIpv6(ipv6Bytes('::'))).toBe('::')
    expect(formatIpv6(ipv6Bytes('2001:db8:0:1:1:1:1:1'))).toBe('2001:db8:0:1:1:1:1:1')
    expect(formatIpv6(ipv6Bytes('fe80::'))).toBe('fe80::')
  })
})
