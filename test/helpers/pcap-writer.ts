/**
 * Builds capture files: pcap (microsecond or nanosecond, either byte order) and pcapng (SHB, IDBs
 * with `if_tsresol`, EPBs, SPBs, any other block), with Ethernet (+VLAN), SLL, SLL2, NULL, LOOP
 * and raw-IP link layers, IPv4/IPv6 and TCP segments with real checksums. For tests and for
 * generating benchmark captures: every method returns the bytes of one piece, so a caller can
 * write a file of any size to a stream piece by piece (`writeCapture`).
 */
import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { EtherType } from '../../src/lib/capture/linklayer.js'
import { IpProtocol, TcpFlag } from '../../src/lib/capture/ip.js'
import { BlockType } from '../../src/lib/capture/pcapng.js'
import { LinkType, type Direction } from '../../src/lib/capture/types.js'

// ---------------------------------------------------------------------------------------------
// Addresses and checksums

export function ipv4Bytes(text: string): Buffer {
  const parts = text.split('.').map(Number)
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new RangeError(`bad IPv4 address ${text}`)
  return Buffer.from(parts)
}

export function ipv6Bytes(text: string): Buffer {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined]
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const fill = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length
  const groups = [...headGroups, ...Array<string>(fill).fill('0'), ...tailGroups]
  if (groups.length !== 8) throw new RangeError(`bad IPv6 address ${text}`)
  const out = Buffer.alloc(16)
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2))
  return out
}

/** RFC 1071 one's-complement sum of 16-bit words. */
export function internetChecksum(parts: Buffer[]): number {
  let sum = 0
  let odd: number | undefined
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      if (odd === undefined) odd = part[i]
      else { sum += (odd << 8) | part[i]; odd = undefined }
    }
  }
  if (odd !== undefined) sum += odd << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

// ---------------------------------------------------------------------------------------------
// IP and TCP

export interface Ipv4Options {
  src: string
  dst: string
  protocol: number
  payload: Buffer
  id?: number
  ttl?: number
  moreFragments?: boolean
  /** Fragment offset in bytes (a multiple of 8). */
  fragmentOffset?: number
}

export function ipv4Packet(o: Ipv4Options): Buffer {
  const header = Buffer.alloc(20)
  header[0] = 0x45
  header.writeUInt16BE(20 + o.payload.length, 2)
  header.writeUInt16BE(o.id ?? 0, 4)
  header.writeUInt16BE((o.moreFragments ? 0x2000 : 0) | ((o.fragmentOffset ?? 0) / 8), 6)
  header[8] = o.ttl ?? 64
  header[9] = o.protocol
  ipv4Bytes(o.src).copy(header, 12)
  ipv4Bytes(o.dst).copy(header, 16)
  header.writeUInt16BE(internetChecksum([header]), 10)
  return Buffer.concat([header, o.payload])
}

/** An IPv6 extension header: Next Header and Hdr Ext Len are filled in; `body` is padded to 8n - 2 bytes. */
export interface Ipv6ExtensionHeader {
  type: number
  body?: Buffer
}

/** Fragment header body: Fragment Offset (13 bits) | Res | M, Identification (RFC 8200 4.5). */
export function ipv6FragmentHeader(o: { offset: number, moreFragments: boolean, id: number }): Ipv6ExtensionHeader {
  const body = Buffer.alloc(6)
  body.writeUInt16BE(((o.offset / 8) << 3) | (o.moreFragments ? 1 : 0), 0)
  body.writeUInt32BE(o.id, 2)
  return { type: IpProtocol.FRAGMENT, body }
}

export interface Ipv6Options {
  src: string
  dst: string
  nextHeader: number
  payload: Buffer
  extensionHeaders?: Ipv6ExtensionHeader[]
  hopLimit?: number
}

export function ipv6Packet(o: Ipv6Options): Buffer {
  const extensions = o.extensionHeaders ?? []
  const encoded = extensions.map((ext, i) => {
    const next = i + 1 < extensions.length ? extensions[i + 1].type : o.nextHeader
    const body = ext.body ?? Buffer.alloc(6)
    // The fragment header has a fixed 8 bytes and a reserved second byte.
    const length = ext.type === IpProtocol.FRAGMENT ? 8 : Math.ceil((body.length + 2) / 8) * 8
    const out = Buffer.alloc(length)
    out[0] = next
    out[1] = ext.type === IpProtocol.FRAGMENT ? 0 : length / 8 - 1
    body.copy(out, 2)
    return out
  })
  const rest = Buffer.concat([...encoded, o.payload])
  const header = Buffer.alloc(40)
  header.writeUInt32BE(0x60000000, 0)
  header.writeUInt16BE(rest.length, 4)
  header[6] = extensions.length > 0 ? extensions[0].type : o.nextHeader
  header[7] = o.hopLimit ?? 64
  ipv6Bytes(o.src).copy(header, 8)
  ipv6Bytes(o.dst).copy(header, 24)
  return Buffer.concat([header, rest])
}

export interface TcpOptions {
  src: string
  dst: string
  srcPort: number
  dstPort: number
  seq: number
  ack?: number
  /** TcpFlag bits. */
  flags: number
  payload?: Buffer
  window?: number
}

/** A TCP header (no options) plus payload, with the checksum over the IPv4 or IPv6 pseudo-header. */
export function tcpSegment(o: TcpOptions): Buffer {
  const payload = o.payload ?? Buffer.alloc(0)
  const header = Buffer.alloc(20)
  header.writeUInt16BE(o.srcPort, 0)
  header.writeUInt16BE(o.dstPort, 2)
  header.writeUInt32BE(o.seq >>> 0, 4)
  header.writeUInt32BE((o.ack ?? 0) >>> 0, 8)
  header[12] = 5 << 4
  header[13] = o.flags
  header.writeUInt16BE(o.window ?? 65535, 14)
  const v6 = o.src.includes(':')
  const pseudo = v6 ? Buffer.alloc(40) : Buffer.alloc(12)
  if (v6) {
    ipv6Bytes(o.src).copy(pseudo, 0)
    ipv6Bytes(o.dst).copy(pseudo, 16)
    pseudo.writeUInt32BE(20 + payload.length, 32)
    pseudo[39] = IpProtocol.TCP
  } else {
    ipv4Bytes(o.src).copy(pseudo, 0)
    ipv4Bytes(o.dst).copy(pseudo, 4)
    pseudo[9] = IpProtocol.TCP
    pseudo.writeUInt16BE(20 + payload.length, 10)
  }
  header.writeUInt16BE(internetChecksum([pseudo, header, payload]), 16)
  return Buffer.concat([header, payload])
}

/** A TCP segment inside an IPv4 or IPv6 packet (chosen by the address form). */
export function tcpPacket(o: TcpOptions & { ipId?: number, extensionHeaders?: Ipv6ExtensionHeader[] }): Buffer {
  const payload = tcpSegment(o)
  if (o.src.includes(':')) return ipv6Packet({ src: o.src, dst: o.dst, nextHeader: IpProtocol.TCP, payload, extensionHeaders: o.extensionHeaders })
  return ipv4Packet({ src: o.src, dst: o.dst, protocol: IpProtocol.TCP, payload, id: o.ipId })
}

// ---------------------------------------------------------------------------------------------
// Link layers

export interface VlanTag {
  /** 0x8100 (802.1Q) or 0x88a8 (802.1ad). */
  tpid: number
  id: number
}

export interface LinkOptions {
  /** Ethernet only: VLAN tags, outermost first; a number is an 802.1Q tag. */
  vlans?: Array<number | VlanTag>
  /** Ethernet only: pad the frame to the 60-byte minimum, as a NIC does. */
  pad?: boolean
  /** LINKTYPE_NULL only: write the family big-endian (default little-endian, as on x86). */
  nullBigEndian?: boolean
  /** NULL/LOOP only: the AF_INET6 value (default 30, macOS). */
  inet6Family?: number
}

const MAC_A = Buffer.from([0x02, 0, 0, 0, 0, 0x01])
const MAC_B = Buffer.from([0x02, 0, 0, 0, 0, 0x02])

function ipEtherType(ip: Buffer): number {
  return ip[0] >> 4 === 6 ? EtherType.IPV6 : EtherType.IPV4
}

/** Wraps an IP packet in the frame of a link type. */
export function linkFrame(linkType: number, ip: Buffer, o: LinkOptions = {}): Buffer {
  switch (linkType) {
    case LinkType.ETHERNET: return ethernetFrame(ip, o)
    case LinkType.LINUX_SLL: {
      const head = Buffer.alloc(16)
      head.writeUInt16BE(0, 0) // packet type: to us
      head.writeUInt16BE(1, 2) // ARPHRD_ETHER
      head.writeUInt16BE(6, 4)
      MAC_A.copy(head, 6)
      head.writeUInt16BE(ipEtherType(ip), 14)
      return Buffer.concat([head, ip])
    }
    case LinkType.LINUX_SLL2: {
      const head = Buffer.alloc(20)
      head.writeUInt16BE(ipEtherType(ip), 0)
      head.writeUInt32BE(1, 4) // interface index
      head.writeUInt16BE(772, 8) // ARPHRD_LOOPBACK
      head[10] = 0
      head[11] = 6
      MAC_A.copy(head, 12)
      return Buffer.concat([head, ip])
    }
    case LinkType.NULL:
    case LinkType.LOOP: {
      const family = ip[0] >> 4 === 6 ? (o.inet6Family ?? 30) : 2
      const head = Buffer.alloc(4)
      if (linkType === LinkType.LOOP || o.nullBigEndian) head.writeUInt32BE(family, 0)
      else head.writeUInt32LE(family, 0)
      return Buffer.concat([head, ip])
    }
    case LinkType.RAW:
    case LinkType.RAW_DLT12:
    case LinkType.RAW_DLT14:
    case LinkType.IPV4:
    case LinkType.IPV6:
      return ip
    default:
      throw new RangeError(`writer has no link layer for linktype ${linkType}`)
  }
}

function ethernetFrame(ip: Buffer, o: LinkOptions): Buffer {
  const tags = (o.vlans ?? []).map((tag) => (typeof tag === 'number' ? { tpid: EtherType.VLAN, id: tag } : tag))
  const head = Buffer.alloc(14 + tags.length * 4)
  MAC_B.copy(head, 0)
  MAC_A.copy(head, 6)
  tags.forEach((tag, i) => {
    head.writeUInt16BE(tag.tpid, 12 + i * 4)
    head.writeUInt16BE(tag.id & 0x0fff, 14 + i * 4)
  })
  head.writeUInt16BE(ipEtherType(ip), 12 + tags.length * 4)
  const frame = Buffer.concat([head, ip])
  if (o.pad && frame.length < 60) return Buffer.concat([frame, Buffer.alloc(60 - frame.length)])
  return frame
}

// ---------------------------------------------------------------------------------------------
// Files

export interface InterfaceSpec {
  linkType: number
  /** pcapng `if_tsresol` byte (default 6: microseconds; 9 nanoseconds; 0x80 | n for 2^-n). */
  tsresol?: number
  snaplen?: number
}

export interface CaptureWriterOptions {
  format: 'pcap' | 'pcapng'
  /** pcap: the file's linktype (default Ethernet). pcapng: used when `interfaces` is absent. */
  linkType?: number
  /** pcap: nanosecond magic 0xa1b23c4d instead of microsecond 0xa1b2c3d4. */
  nanosecond?: boolean
  /** Write big-endian (default little-endian). */
  bigEndian?: boolean
  snaplen?: number
  /** pcapng: the interfaces described in the section header. */
  interfaces?: InterfaceSpec[]
  /** Options for wrapping IP packets in link frames (`packet()`). */
  link?: LinkOptions
}

/** The interface timestamp resolution as a function from nanoseconds to units. */
function toUnits(tsresol: number): (time: bigint) => bigint {
  const exponent = BigInt(tsresol & 0x7f)
  if ((tsresol & 0x80) !== 0) return (time) => (time * (1n << exponent)) / 1_000_000_000n
  if (exponent <= 9n) return (time) => time / 10n ** (9n - exponent)
  return (time) => time * 10n ** (exponent - 9n)
}

export class CaptureWriter {
  readonly interfaces: InterfaceSpec[]
  private readonly le: boolean

  constructor(readonly options: CaptureWriterOptions) {
    this.le = !options.bigEndian
    this.interfaces = options.interfaces ?? [{ linkType: options.linkType ?? LinkType.ETHERNET, snaplen: options.snaplen }]
  }

  private u16(value: number): Buffer {
    const b = Buffer.alloc(2)
    if (this.le) b.writeUInt16LE(value)
    else b.writeUInt16BE(value)
    return b
  }

  private u32(value: number): Buffer {
    const b = Buffer.alloc(4)
    if (this.le) b.writeUInt32LE(value >>> 0)
    else b.writeUInt32BE(value >>> 0)
    return b
  }

  /** The pcap File Header, or the pcapng SHB followed by one IDB per interface. */
  header(): Buffer {
    if (this.options.format === 'pcap') {
      return Buffer.concat([
        this.u32(this.options.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4), this.u16(2), this.u16(4), this.u32(0), this.u32(0),
        this.u32(this.options.snaplen ?? 262144), this.u32(this.interfaces[0].linkType),
      ])
    }
    return Buffer.concat([this.sectionHeader(), ...this.interfaces.map((spec) => this.interfaceDescription(spec))])
  }

  /** A pcapng block: Block Type, Block Total Length, body padded to 32 bits, Block Total Length. */
  block(type: number, body: Buffer): Buffer {
    const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)])
    const total = 12 + padded.length
    return Buffer.concat([this.u32(type), this.u32(total), padded, this.u32(total)])
  }

  sectionHeader(): Buffer {
    // Byte-Order Magic, Major 1, Minor 0, Section Length -1 (not given).
    return this.block(BlockType.SECTION_HEADER, Buffer.concat([this.u32(0x1a2b3c4d), this.u16(1), this.u16(0), Buffer.alloc(8, 0xff)]))
  }

  interfaceDescription(spec: InterfaceSpec): Buffer {
    const parts = [this.u16(spec.linkType), this.u16(0), this.u32(spec.snaplen ?? 262144)]
    if (spec.tsresol !== undefined) parts.push(this.u16(9), this.u16(1), Buffer.from([spec.tsresol, 0, 0, 0]))
    parts.push(this.u16(0), this.u16(0)) // opt_endofopt
    return this.block(BlockType.INTERFACE_DESCRIPTION, Buffer.concat(parts))
  }

  /** One packet record (pcap) or Enhanced Packet Block (pcapng) holding a link-layer frame. */
  record(time: bigint, frame: Buffer, interfaceId = 0, originalLength = frame.length): Buffer {
    if (this.options.format === 'pcap') {
      const perSecond = this.options.nanosecond ? 1_000_000_000n : 1_000_000n
      const units = this.options.nanosecond ? time : time / 1000n
      return Buffer.concat([
        this.u32(Number(units / perSecond)), this.u32(Number(units % perSecond)), this.u32(frame.length), this.u32(originalLength), frame,
      ])
    }
    const units = toUnits(this.interfaces[interfaceId]?.tsresol ?? 6)(time)
    return this.block(BlockType.ENHANCED_PACKET, Buffer.concat([
      this.u32(interfaceId), this.u32(Number(units >> 32n)), this.u32(Number(units & 0xffffffffn)),
      this.u32(frame.length), this.u32(originalLength), frame,
    ]))
  }

  /** A pcapng Simple Packet Block (interface 0, no timestamp). */
  simplePacket(frame: Buffer): Buffer {
    return this.block(BlockType.SIMPLE_PACKET, Buffer.concat([this.u32(frame.length), frame]))
  }

  /** Wraps an IP packet in the interface's link layer and returns its record / EPB. */
  packet(time: bigint, ip: Buffer, interfaceId = 0, link: LinkOptions = this.options.link ?? {}): Buffer {
    return this.record(time, linkFrame(this.interfaces[interfaceId].linkType, ip, link), interfaceId)
  }
}

/** A whole capture in memory: header plus one record per timed IP packet. */
export function buildCapture(options: CaptureWriterOptions, packets: Iterable<{ time: bigint, ip: Buffer, interfaceId?: number }>): Buffer {
  const writer = new CaptureWriter(options)
  const parts = [writer.header()]
  for (const p of packets) parts.push(writer.packet(p.time, p.ip, p.interfaceId ?? 0))
  return Buffer.concat(parts)
}

/** Writes chunks to a stream, waiting for 'drain' when it asks to (for files of any size). */
export async function writeCapture(sink: Writable, chunks: Iterable<Buffer> | AsyncIterable<Buffer>): Promise<void> {
  for await (const chunk of chunks) {
    if (!sink.write(chunk)) await once(sink, 'drain')
  }
}

// ---------------------------------------------------------------------------------------------
// A synthetic TCP conversation

export interface ConversationEndpoint {
  ip: string
  port: number
}

export interface TcpPacketOut {
  time: bigint
  ip: Buffer
  from: Direction
  seq: number
  flags: number
  payloadLength: number
}

export interface TcpConversationOptions {
  client: ConversationEndpoint
  server: ConversationEndpoint
  clientIsn?: number
  serverIsn?: number
  /** Time of the first packet, ns since the epoch (default 2026-01-01T00:00:00Z). */
  startTime?: bigint
  /** Time between packets (default 1 ms). */
  stepNs?: bigint
}

/**
 * Generates the packets of one TCP connection with consistent sequence and acknowledgment
 * numbers (32-bit wrap included). Methods return packets in send order; a test may reorder,
 * duplicate or drop them before writing.
 */
export class TcpConversation {
  time: bigint
  private readonly step: bigint
  private readonly nextSeq: Record<Direction, number>

  constructor(private readonly o: TcpConversationOptions) {
    this.time = o.startTime ?? 1_767_225_600_000_000_000n
    this.step = o.stepNs ?? 1_000_000n
    this.nextSeq = { client: (o.clientIsn ?? 1000) >>> 0, server: (o.serverIsn ?? 5000) >>> 0 }
  }

  /** The next sequence number a side will send. */
  seqOf(from: Direction): number {
    return this.nextSeq[from]
  }

  /** One segment; by default at the side's next sequence number, advancing it by what it consumes. */
  segment(from: Direction, flags: number, payload: Buffer = Buffer.alloc(0), seq?: number): TcpPacketOut {
    const other: Direction = from === 'client' ? 'server' : 'client'
    const [src, dst] = from === 'client' ? [this.o.client, this.o.server] : [this.o.server, this.o.client]
    const useSeq = seq ?? this.nextSeq[from]
    const hasAck = (flags & TcpFlag.ACK) !== 0
    const ip = tcpPacket({
      src: src.ip, dst: dst.ip, srcPort: src.port, dstPort: dst.port, seq: useSeq, ack: hasAck ? this.nextSeq[other] : 0, flags, payload,
    })
    if (seq === undefined) {
      const consumed = payload.length + ((flags & TcpFlag.SYN) !== 0 ? 1 : 0) + ((flags & TcpFlag.FIN) !== 0 ? 1 : 0)
      this.nextSeq[from] = (this.nextSeq[from] + consumed) >>> 0
    }
    const packet = { time: this.time, ip, from, seq: useSeq, flags, payloadLength: payload.length }
    this.time += this.step
    return packet
  }

  handshake(): TcpPacketOut[] {
    return [
      this.segment('client', TcpFlag.SYN),
      this.segment('server', TcpFlag.SYN | TcpFlag.ACK),
      this.segment('client', TcpFlag.ACK),
    ]
  }

  /** Data in segments of at most `segmentSize` bytes; PSH on the last. */
  send(from: Direction, data: Buffer, segmentSize = 1460): TcpPacketOut[] {
    const out: TcpPacketOut[] = []
    for (let at = 0; at < data.length; at += segmentSize) {
      const last = at + segmentSize >= data.length
      out.push(this.segment(from, TcpFlag.ACK | (last ? TcpFlag.PSH : 0), data.subarray(at, at + segmentSize)))
    }
    return out
  }

  /** FIN from one side, ACKed by the other. */
  fin(from: Direction): TcpPacketOut[] {
    const other: Direction = from === 'client' ? 'server' : 'client'
    return [this.segment(from, TcpFlag.FIN | TcpFlag.ACK), this.segment(other, TcpFlag.ACK)]
  }

  /** Both sides FIN: client first. */
  close(): TcpPacketOut[] {
    return [...this.fin('client'), ...this.fin('server')]
  }

  rst(from: Direction): TcpPacketOut {
    return this.segment(from, TcpFlag.RST | TcpFlag.ACK)
  }
}
