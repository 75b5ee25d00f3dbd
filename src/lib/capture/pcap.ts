/**
 * Classic libpcap file format (draft-ietf-opsawg-pcap): a 24-byte File Header, then records of a
 * 16-byte Packet Record header plus `incl_len` bytes of packet data.
 *
 * No well-kept npm package reads pcap/pcapng as a stream and reassembles TCP, so stmpcat has its
 * own reader here; it only needs the parts below.
 */
import { StmpError } from '../errors.js'
import type { ByteQueue } from './bytes.js'
import type { CapturePacket } from './types.js'

/** `magic_number` as read big-endian from the first 4 bytes. */
const MAGIC_MICRO = 0xa1b2c3d4
const MAGIC_NANO = 0xa1b23c4d
const MAGIC_MICRO_SWAPPED = 0xd4c3b2a1
const MAGIC_NANO_SWAPPED = 0x4d3cb2a1

const FILE_HEADER_LENGTH = 24
const RECORD_HEADER_LENGTH = 16

export function isPcapMagic(first4: Buffer): boolean {
  if (first4.length < 4) return false
  const magic = first4.readUInt32BE(0)
  return magic === MAGIC_MICRO || magic === MAGIC_NANO || magic === MAGIC_MICRO_SWAPPED || magic === MAGIC_NANO_SWAPPED
}

export interface PcapHeader {
  littleEndian: boolean
  nanosecond: boolean
  versionMajor: number
  versionMinor: number
  snaplen: number
  linkType: number
}

export function badCapture(message: string, offset: number): StmpError {
  return new StmpError('BAD_CAPTURE', `${message} (at byte ${offset})`, { offset })
}

/** Parses records from a ByteQueue; `step` returns false when it needs more bytes. */
export class PcapParser {
  header: PcapHeader | undefined
  private packetIndex = 0

  constructor(
    private readonly maxPacketBytes: number,
    private readonly onPacket: (packet: CapturePacket) => void,
  ) {}

  step(queue: ByteQueue): boolean {
    if (this.header === undefined) return this.readFileHeader(queue)
    return this.readRecord(queue, this.header)
  }

  private readFileHeader(queue: ByteQueue): boolean {
    if (queue.length < FILE_HEADER_LENGTH) return false
    const bytes = queue.peek(FILE_HEADER_LENGTH)
    const magic = bytes.readUInt32BE(0)
    const littleEndian = magic === MAGIC_MICRO_SWAPPED || magic === MAGIC_NANO_SWAPPED
    const nanosecond = magic === MAGIC_NANO || magic === MAGIC_NANO_SWAPPED
    const u16 = (at: number) => (littleEndian ? bytes.readUInt16LE(at) : bytes.readUInt16BE(at))
    const u32 = (at: number) => (littleEndian ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at))
    const versionMajor = u16(4)
    if (versionMajor !== 2) throw badCapture(`pcap version_major ${versionMajor} is not 2`, queue.consumed + 4)
    // LinkType is the low 16 bits of `network`; the top bits carry the FCS length (draft 4.1).
    this.header = {
      littleEndian, nanosecond, versionMajor, versionMinor: u16(6), snaplen: u32(16), linkType: u32(20) & 0xffff,
    }
    queue.skip(FILE_HEADER_LENGTH)
    return true
  }

  private readRecord(queue: ByteQueue, header: PcapHeader): boolean {
    if (queue.length < RECORD_HEADER_LENGTH) return false
    const head = queue.peek(RECORD_HEADER_LENGTH)
    const u32 = (at: number) => (header.littleEndian ? head.readUInt32LE(at) : head.readUInt32BE(at))
    const inclLen = u32(8)
    const fileOffset = queue.consumed
    if (inclLen > this.maxPacketBytes) {
      throw badCapture(`pcap record incl_len ${inclLen} is over the ${this.maxPacketBytes}-byte limit (maxPacketBytes)`, fileOffset)
    }
    const fraction = u32(4)
    if (fraction >= (header.nanosecond ? 1_000_000_000 : 1_000_000)) {
      throw badCapture(`pcap record ts_${header.nanosecond ? 'nsec' : 'usec'} ${fraction} is out of range`, fileOffset + 4)
    }
    if (queue.length < RECORD_HEADER_LENGTH + inclLen) return false
    const seconds = BigInt(u32(0))
    const originalLength = u32(12)
    queue.skip(RECORD_HEADER_LENGTH)
    const data = queue.take(inclLen)
    const time = seconds * 1_000_000_000n + BigInt(fraction) * (header.nanosecond ? 1n : 1000n)
    this.onPacket({
      index: this.packetIndex++, fileOffset, time, interfaceId: 0, linkType: header.linkType, data, originalLength,
    })
    return true
  }
}
