/**
 * pcapng (draft-ietf-opsawg-pcapng): a sequence of blocks `Block Type (4) | Block Total Length (4)
 * | Block Body | Block Total Length (4)`. A file is one or more sections, each opened by a Section
 * Header Block whose Byte-Order Magic sets the byte order of the section. Read here: SHB, IDB
 * (with `if_tsresol` and `if_tsoffset`), EPB, SPB and the obsolete Packet Block; every other
 * block type is skipped by its length.
 *
 * No well-kept npm package reads pcapng as a stream, so stmpcat has this reader.
 */
import type { ByteQueue } from './bytes.js'
import { badCapture } from './pcap.js'
import type { CapturePacket } from './types.js'

export const BlockType = {
  SECTION_HEADER: 0x0a0d0d0a,
  INTERFACE_DESCRIPTION: 0x00000001,
  PACKET_OBSOLETE: 0x00000002,
  SIMPLE_PACKET: 0x00000003,
  ENHANCED_PACKET: 0x00000006,
} as const

const BYTE_ORDER_MAGIC = 0x1a2b3c4d
/** IDB option codes. */
const IF_TSRESOL = 9
const IF_TSOFFSET = 14
const OPT_ENDOFOPT = 0

export function isPcapngMagic(first4: Buffer): boolean {
  return first4.length >= 4 && first4.readUInt32BE(0) === BlockType.SECTION_HEADER
}

interface InterfaceDescription {
  linkType: number
  snaplen: number
  /** Converts a timestamp in interface units to nanoseconds. */
  toNanoseconds: (units: bigint) => bigint
  /** `if_tsoffset`: seconds added to every timestamp. */
  offsetSeconds: bigint
}

/** `if_tsresol`: MSB 0 means 10^-v seconds, MSB 1 means 2^-v seconds (draft 4.2). */
export function timestampScale(tsresol: number): (units: bigint) => bigint {
  const exponent = BigInt(tsresol & 0x7f)
  if ((tsresol & 0x80) !== 0) {
    const divisor = 1n << exponent
    return (units) => (units * 1_000_000_000n) / divisor
  }
  if (exponent <= 9n) {
    const factor = 10n ** (9n - exponent)
    return (units) => units * factor
  }
  const divisor = 10n ** (exponent - 9n)
  return (units) => units / divisor
}

const MICROSECONDS = timestampScale(6)

export class PcapngParser {
  private littleEndian = true
  private inSection = false
  private interfaces: InterfaceDescription[] = []
  private packetIndex = 0
  /** The previous packet's time, used for Simple Packet Blocks, which carry none. */
  private lastTime = 0n

  constructor(
    private readonly maxBlockBytes: number,
    private readonly onPacket: (packet: CapturePacket) => void,
  ) {}

  step(queue: ByteQueue): boolean {
    if (queue.length < 12) return false
    const start = queue.peek(12)
    const blockOffset = queue.consumed
    let blockType = start.readUInt32BE(0)
    if (blockType === BlockType.SECTION_HEADER) {
      // The SHB type is a palindrome; its Byte-Order Magic (after the length) tells the order.
      const magic = start.readUInt32BE(8)
      if (magic === BYTE_ORDER_MAGIC) this.littleEndian = false
      else if (magic === 0x4d3c2b1a) this.littleEndian = true
      else throw badCapture(`pcapng Section Header Block has a bad Byte-Order Magic 0x${magic.toString(16)}`, blockOffset + 8)
    } else {
      if (!this.inSection) throw badCapture('pcapng file does not start with a Section Header Block', blockOffset)
      blockType = this.u32(start, 0)
    }
    const totalLength = this.u32(start, 4)
    if (totalLength < 12 || totalLength % 4 !== 0) {
      throw badCapture(`pcapng Block Total Length ${totalLength} is not a multiple of 4 of at least 12`, blockOffset + 4)
    }
    if (totalLength > this.maxBlockBytes) {
      throw badCapture(`pcapng Block Total Length ${totalLength} is over the ${this.maxBlockBytes}-byte limit (maxBlockBytes)`, blockOffset + 4)
    }
    if (queue.length < totalLength) return false
    const block = queue.take(totalLength)
    const trailer = this.u32(block, totalLength - 4)
    if (trailer !== totalLength) {
      throw badCapture(`pcapng trailing Block Total Length ${trailer} differs from the leading ${totalLength}`, blockOffset + totalLength - 4)
    }
    this.readBlock(blockType, block.subarray(8, totalLength - 4), blockOffset)
    return true
  }

  private u16(buf: Buffer, at: number): number {
    return this.littleEndian ? buf.readUInt16LE(at) : buf.readUInt16BE(at)
  }

  private u32(buf: Buffer, at: number): number {
    return this.littleEndian ? buf.readUInt32LE(at) : buf.readUInt32BE(at)
  }

  private readBlock(blockType: number, body: Buffer, blockOffset: number): void {
    switch (blockType) {
      case BlockType.SECTION_HEADER: return this.readSectionHeader(body, blockOffset)
      case BlockType.INTERFACE_DESCRIPTION: return this.readInterface(body, blockOffset)
      case BlockType.ENHANCED_PACKET: return this.readEnhancedPacket(body, blockOffset)
      case BlockType.SIMPLE_PACKET: return this.readSimplePacket(body, blockOffset)
      case BlockType.PACKET_OBSOLETE: return this.readObsoletePacket(body, blockOffset)
      default: return // Name Resolution, Interface Statistics, Decryption Secrets, custom...: not needed.
    }
  }

  private readSectionHeader(body: Buffer, blockOffset: number): void {
    if (body.length < 16) throw badCapture('pcapng Section Header Block is too short', blockOffset)
    const major = this.u16(body, 4)
    if (major !== 1) throw badCapture(`pcapng Major Version ${major} is not 1`, blockOffset + 12)
    // A new section starts a new set of interfaces (Interface IDs are per section).
    this.inSection = true
    this.interfaces = []
  }

  private readInterface(body: Buffer, blockOffset: number): void {
    if (body.length < 8) throw badCapture('pcapng Interface Description Block is too short', blockOffset)
    const description: InterfaceDescription = {
      linkType: this.u16(body, 0), snaplen: this.u32(body, 4), toNanoseconds: MICROSECONDS, offsetSeconds: 0n,
    }
    this.readInterfaceOptions(body.subarray(8), blockOffset + 16, description)
    this.interfaces.push(description)
  }

  /** Options are `Option Code (2) | Option Length (2) | value padded to 4` (draft 3.5). */
  private readInterfaceOptions(options: Buffer, optionsOffset: number, description: InterfaceDescription): void {
    let at = 0
    while (at + 4 <= options.length) {
      const code = this.u16(options, at)
      const length = this.u16(options, at + 2)
      if (code === OPT_ENDOFOPT) return
      if (at + 4 + length > options.length) {
        throw badCapture(`pcapng option ${code} runs past the end of its block`, optionsOffset + at)
      }
      const value = options.subarray(at + 4, at + 4 + length)
      if (code === IF_TSRESOL && length >= 1) description.toNanoseconds = timestampScale(value[0])
      if (code === IF_TSOFFSET && length >= 8) {
        description.offsetSeconds = this.littleEndian ? value.readBigInt64LE(0) : value.readBigInt64BE(0)
      }
      at += 4 + Math.ceil(length / 4) * 4
    }
  }

  private interfaceFor(interfaceId: number, blockOffset: number): InterfaceDescription {
    const description = this.interfaces[interfaceId]
    if (description === undefined) {
      throw badCapture(`pcapng packet names Interface ID ${interfaceId}, but only ${this.interfaces.length} interfaces are described`, blockOffset + 8)
    }
    return description
  }

  private timeOf(description: InterfaceDescription, high: number, low: number): bigint {
    const units = (BigInt(high) << 32n) | BigInt(low)
    return description.toNanoseconds(units) + description.offsetSeconds * 1_000_000_000n
  }

  /** EPB: Interface ID (4), Timestamp Upper (4), Timestamp Lower (4), Captured Packet Length (4), Original Packet Length (4), data. */
  private readEnhancedPacket(body: Buffer, blockOffset: number): void {
    if (body.length < 20) throw badCapture('pcapng Enhanced Packet Block is too short', blockOffset)
    this.readTimedPacket(body, blockOffset, this.u32(body, 0))
  }

  /** Obsolete Packet Block: Interface ID (2), Drops Count (2), then the EPB's layout from byte 4. */
  private readObsoletePacket(body: Buffer, blockOffset: number): void {
    if (body.length < 20) throw badCapture('pcapng Packet Block is too short', blockOffset)
    this.readTimedPacket(body, blockOffset, this.u16(body, 0))
  }

  /** Timestamp (8), Captured Length (4), Original Length (4) from byte 4, then data: EPB and PB share it. */
  private readTimedPacket(body: Buffer, blockOffset: number, interfaceId: number): void {
    const description = this.interfaceFor(interfaceId, blockOffset)
    const capturedLength = this.u32(body, 12)
    if (20 + capturedLength > body.length) {
      throw badCapture(`pcapng Captured Packet Length ${capturedLength} runs past the end of its block`, blockOffset + 20)
    }
    this.emit(blockOffset, interfaceId, description, this.timeOf(description, this.u32(body, 4), this.u32(body, 8)),
      body.subarray(20, 20 + capturedLength), this.u32(body, 16))
  }

  /**
   * SPB: Original Packet Length (4), data. It has no timestamp and belongs to interface 0; its
   * captured length is min(Original Packet Length, SnapLen, room in the block) (draft 4.4).
   */
  private readSimplePacket(body: Buffer, blockOffset: number): void {
    if (body.length < 4) throw badCapture('pcapng Simple Packet Block is too short', blockOffset)
    const description = this.interfaceFor(0, blockOffset)
    const originalLength = this.u32(body, 0)
    let capturedLength = Math.min(originalLength, body.length - 4)
    if (description.snaplen > 0) capturedLength = Math.min(capturedLength, description.snaplen)
    this.emit(blockOffset, 0, description, this.lastTime, body.subarray(4, 4 + capturedLength), originalLength)
  }

  private emit(fileOffset: number, interfaceId: number, description: InterfaceDescription, time: bigint, data: Buffer, originalLength: number): void {
    this.lastTime = time
    this.onPacket({ index: this.packetIndex++, fileOffset, time, interfaceId, linkType: description.linkType, data, originalLength })
  }
}
