/**
 * IPv4 (RFC 791) and IPv6 (RFC 8200) headers, and the TCP header (RFC 9293). Fragments are
 * reported, never reassembled: stmpcat traffic is TCP, where fragments are rare and guessing at
 * them would hide the real problem.
 */

export const IpProtocol = {
  HOP_BY_HOP: 0, TCP: 6, UDP: 17, ROUTING: 43, FRAGMENT: 44, AH: 51, NO_NEXT: 59, DEST_OPTIONS: 60,
} as const

export interface IpFragment {
  id: number
  /** Offset in bytes. */
  offset: number
  moreFragments: boolean
}

export interface IpDatagram {
  version: 4 | 6
  src: string
  dst: string
  /** Upper-layer protocol after any IPv6 extension headers. */
  protocol: number
  payload: Buffer
  fragment?: IpFragment
}

export type IpResult = IpDatagram | { malformed: string }

export function decodeIp(version: 4 | 6, packet: Buffer): IpResult {
  return version === 4 ? decodeIpv4(packet) : decodeIpv6(packet)
}

/** Version/IHL (1), TOS (1), Total Length (2), Identification (2), Flags/Fragment Offset (2), TTL, Protocol, Checksum, Src, Dst. */
export function decodeIpv4(packet: Buffer): IpResult {
  if (packet.length < 20) return { malformed: 'IPv4 header shorter than 20 bytes' }
  if (packet[0] >> 4 !== 4) return { malformed: `IP version ${packet[0] >> 4} in an IPv4 frame` }
  const headerLength = (packet[0] & 0x0f) * 4
  const totalLength = packet.readUInt16BE(2)
  if (headerLength < 20 || packet.length < headerLength) return { malformed: `IPv4 IHL ${headerLength / 4} is invalid` }
  // Total Length trims Ethernet padding; a 0 Total Length (TSO on the capturing host) means "all of it".
  const end = totalLength === 0 ? packet.length : Math.min(totalLength, packet.length)
  if (end < headerLength) return { malformed: `IPv4 Total Length ${totalLength} is shorter than the header` }
  const flagsAndOffset = packet.readUInt16BE(6)
  const moreFragments = (flagsAndOffset & 0x2000) !== 0
  const offset = (flagsAndOffset & 0x1fff) * 8
  const datagram: IpDatagram = {
    version: 4,
    src: formatIpv4(packet.subarray(12, 16)),
    dst: formatIpv4(packet.subarray(16, 20)),
    protocol: packet[9],
    payload: packet.subarray(headerLength, end),
  }
  if (moreFragments || offset !== 0) datagram.fragment = { id: packet.readUInt16BE(4), offset, moreFragments }
  return datagram
}

/** Fixed 40-byte header, then extension headers chained by Next Header. */
export function decodeIpv6(packet: Buffer): IpResult {
  if (packet.length < 40) return { malformed: 'IPv6 header shorter than 40 bytes' }
  if (packet[0] >> 4 !== 6) return { malformed: `IP version ${packet[0] >> 4} in an IPv6 frame` }
  const payloadLength = packet.readUInt16BE(4)
  // Payload Length 0 is a jumbogram or TSO; take what was captured.
  const end = payloadLength === 0 ? packet.length : Math.min(40 + payloadLength, packet.length)
  const datagram: IpDatagram = {
    version: 6, src: formatIpv6(packet.subarray(8, 24)), dst: formatIpv6(packet.subarray(24, 40)), protocol: packet[6], payload: packet.subarray(40, end),
  }
  return skipExtensionHeaders(datagram)
}

function skipExtensionHeaders(datagram: IpDatagram): IpResult {
  let next = datagram.protocol
  let rest = datagram.payload
  while (true) {
    if (next === IpProtocol.HOP_BY_HOP || next === IpProtocol.ROUTING || next === IpProtocol.DEST_OPTIONS || next === IpProtocol.AH) {
      if (rest.length < 8) return { malformed: `IPv6 extension header ${next} is truncated` }
      // Hdr Ext Len counts 8-octet units after the first 8; AH counts 4-octet units minus 2 (RFC 4302).
      const length = next === IpProtocol.AH ? (rest[1] + 2) * 4 : (rest[1] + 1) * 8
      if (rest.length < length) return { malformed: `IPv6 extension header ${next} is truncated` }
      next = rest[0]
      rest = rest.subarray(length)
    } else if (next === IpProtocol.FRAGMENT) {
      if (rest.length < 8) return { malformed: 'IPv6 fragment header is truncated' }
      const offsetAndFlags = rest.readUInt16BE(2)
      const offset = (offsetAndFlags >> 3) * 8
      const moreFragments = (offsetAndFlags & 1) === 1
      // An atomic fragment (offset 0, M = 0) is a whole datagram (RFC 6946).
      if (offset !== 0 || moreFragments) datagram.fragment = { id: rest.readUInt32BE(4), offset, moreFragments }
      next = rest[0]
      rest = rest.subarray(8)
      break
    } else {
      break
    }
  }
  datagram.protocol = next
  datagram.payload = rest
  return datagram
}

export function formatIpv4(bytes: Buffer): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`
}

/** RFC 5952: lower-case hex, no leading zeros, the longest run (>= 2) of zero groups as `::`. */
export function formatIpv6(bytes: Buffer): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i))
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) { bestStart = i; bestLength = j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart < 0) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
}

export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20 } as const

export interface TcpSegment {
  srcPort: number
  dstPort: number
  seq: number
  ack: number
  flags: number
  payload: Buffer
}

/** Source Port (2), Destination Port (2), Sequence Number (4), Acknowledgment Number (4), Data Offset/flags (2), ... */
export function decodeTcp(segment: Buffer): TcpSegment | { malformed: string } {
  if (segment.length < 20) return { malformed: 'TCP header shorter than 20 bytes' }
  const dataOffset = (segment[12] >> 4) * 4
  if (dataOffset < 20 || dataOffset > segment.length) return { malformed: `TCP Data Offset ${dataOffset / 4} is invalid` }
  return {
    srcPort: segment.readUInt16BE(0),
    dstPort: segment.readUInt16BE(2),
    seq: segment.readUInt32BE(4),
    ack: segment.readUInt32BE(8),
    flags: segment[13],
    payload: segment.subarray(dataOffset),
  }
}
