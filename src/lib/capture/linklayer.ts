/**
 * Link layers: find the IP packet inside a captured frame, by LINKTYPE_ (tcpdump.org/linktypes.html).
 * Returns null when the frame carries something other than IPv4/IPv6 or is too short.
 */
import { LinkType } from './types.js'

export interface LinkPayload {
  /** 4 or 6; the caller still checks the version nibble of the IP header. */
  ipVersion: 4 | 6
  ip: Buffer
  /** 802.1Q / 802.1ad VLAN IDs, outermost first (Ethernet only). */
  vlans: number[]
}

export type LinkResult = LinkPayload | { skip: 'link-type' | 'not-ip' | 'malformed' }

export const EtherType = { IPV4: 0x0800, IPV6: 0x86dd, VLAN: 0x8100, QINQ: 0x88a8, QINQ_OLD: 0x9100 } as const

/** BSD AF_INET6 differs by OS: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS. */
const AF_INET = 2
const AF_INET6 = new Set([10, 24, 28, 30])


export function decodeLinkLayer(linkType: number, frame: Buffer): LinkResult {
  switch (linkType) {
    case LinkType.ETHERNET: return decodeEthernet(frame)
    case LinkType.LINUX_SLL: return frame.length < 16 ? { skip: 'malformed' } : byEtherType(frame.readUInt16BE(14), frame.subarray(16), [])
    case LinkType.LINUX_SLL2: return frame.length < 20 ? { skip: 'malformed' } : byEtherType(frame.readUInt16BE(0), frame.subarray(20), [])
    case LinkType.NULL: return decodeNull(frame)
    case LinkType.LOOP: return frame.length < 4 ? { skip: 'malformed' } : byFamily(frame.readUInt32BE(0), frame.subarray(4))
    case LinkType.RAW: case LinkType.RAW_DLT12: case LinkType.RAW_DLT14: return byVersionNibble(frame)
    case LinkType.IPV4: return { ipVersion: 4, ip: frame, vlans: [] }
    case LinkType.IPV6: return { ipVersion: 6, ip: frame, vlans: [] }
    default: return { skip: 'link-type' }
  }
}

/** Ethernet II: dst (6), src (6), EtherType (2); 802.1Q/802.1ad tags (TPID + TCI) may be stacked. */
function decodeEthernet(frame: Buffer): LinkResult {
  let at = 12
  const vlans: number[] = []
  while (true) {
    if (frame.length < at + 2) return { skip: 'malformed' }
    const etherType = frame.readUInt16BE(at)
    if (etherType !== EtherType.VLAN && etherType !== EtherType.QINQ && etherType !== EtherType.QINQ_OLD) {
      return byEtherType(etherType, frame.subarray(at + 2), vlans)
    }
    if (frame.length < at + 4) return { skip: 'malformed' }
    vlans.push(frame.readUInt16BE(at + 2) & 0x0fff)
    at += 4
  }
}

function byEtherType(etherType: number, ip: Buffer, vlans: number[]): LinkResult {
  if (etherType === EtherType.IPV4) return { ipVersion: 4, ip, vlans }
  if (etherType === EtherType.IPV6) return { ipVersion: 6, ip, vlans }
  return { skip: 'not-ip' }
}

/**
 * LINKTYPE_NULL: a 4-byte address family in the byte order of the machine that captured, which
 * the file does not record; a family is a small number, so whichever order gives one is right.
 */
function decodeNull(frame: Buffer): LinkResult {
  if (frame.length < 4) return { skip: 'malformed' }
  const little = frame.readUInt32LE(0)
  return byFamily(little < 0x10000 ? little : frame.readUInt32BE(0), frame.subarray(4))
}

function byFamily(family: number, ip: Buffer): LinkResult {
  if (family === AF_INET) return { ipVersion: 4, ip, vlans: [] }
  if (AF_INET6.has(family)) return { ipVersion: 6, ip, vlans: [] }
  return { skip: 'not-ip' }
}

/** LINKTYPE_RAW: the IP version nibble says which. */
function byVersionNibble(frame: Buffer): LinkResult {
  if (frame.length < 1) return { skip: 'malformed' }
  const version = frame[0] >> 4
  if (version === 4) return { ipVersion: 4, ip: frame, vlans: [] }
  if (version === 6) return { ipVersion: 6, ip: frame, vlans: [] }
  return { skip: 'not-ip' }
}
