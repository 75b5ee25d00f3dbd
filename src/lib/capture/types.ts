/**
 * Types shared by the capture readers, the reassembler and the pipeline (`decoder.ts`).
 *
 * Every Buffer handed out is a view into the input chunks or into a packet; nothing here reuses
 * a buffer after handing it out, so a consumer may keep them.
 */
import type { StmpError } from '../errors.js'

/** Numeric LINKTYPE_ values (tcpdump.org/linktypes.html) that `linklayer.ts` understands. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  /** DLT_RAW as some writers store it (12; 14 on OpenBSD) instead of LINKTYPE_RAW: the same raw IP. */
  RAW_DLT12: 12,
  RAW_DLT14: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const

export type CaptureFormat = 'pcap' | 'pcapng'

/** One captured packet as read from a pcap record or a pcapng packet block. */
export interface CapturePacket {
  /** 0-based packet number in the file (what Wireshark shows as frame number - 1). */
  index: number
  /** Byte offset in the file of the record / block holding the packet. */
  fileOffset: number
  /** Nanoseconds since 1970-01-01T00:00:00Z. */
  time: bigint
  /** pcapng Interface ID; always 0 for pcap. */
  interfaceId: number
  /** LINKTYPE_ value of the interface (pcap `network`, pcapng IDB `LinkType`). */
  linkType: number
  /** The captured bytes (pcap `incl_len`, pcapng `Captured Packet Length`). */
  data: Buffer
  /** The length on the wire (pcap `orig_len`, pcapng `Original Packet Length`). */
  originalLength: number
}

export type Direction = 'client' | 'server'

export interface Endpoint {
  /** Dotted IPv4 or RFC 5952 IPv6 text. */
  ip: string
  port: number
}

/** permessage-deflate parameters the server accepted (RFC 7692 section 7.1). */
export interface DeflateParams {
  clientNoContextTakeover: boolean
  serverNoContextTakeover: boolean
  /** `client_max_window_bits`, if given with a value. */
  clientMaxWindowBits?: number
  /** `server_max_window_bits`, if given with a value. */
  serverMaxWindowBits?: number
}

interface ConnectionRef {
  connId: number
  /** `client-ip:port -> server-ip:port`; IPv6 as `[addr]:port`. */
  connection: string
}

/** Packets that carry no TCP for us; counted, one event per skipped packet. */
export interface PacketSkippedEvent {
  type: 'packet-skipped'
  packetIndex: number
  time: bigint
  /**
   * Why: `link-type` (linktype not understood), `not-ip`, `not-tcp`, `malformed` (a header cut
   * short or invalid), `no-connection` (dropped because `maxConnections` are open).
   */
  reason: 'link-type' | 'not-ip' | 'not-tcp' | 'malformed' | 'no-connection'
  /** Running count of skipped packets, all reasons together. */
  skipped: number
  /** Running count for this reason. */
  skippedForReason: number
  detail?: string
}

export interface IpFragmentEvent {
  type: 'ip-fragment'
  packetIndex: number
  time: bigint
  ipVersion: 4 | 6
  src: string
  dst: string
  /** IPv4 Identification / IPv6 fragment header Identification. */
  id: number
  /** Fragment offset in bytes. */
  fragmentOffset: number
  moreFragments: boolean
  /** Upper-layer protocol number (IPv4 Protocol / IPv6 fragment header Next Header). */
  protocol: number
  length: number
}

export interface TcpOpenEvent extends ConnectionRef {
  type: 'tcp-open'
  time: bigint
  client: Endpoint
  server: Endpoint
  /** True when the client's SYN was seen; false for a connection picked up mid-stream. */
  sawSyn: boolean
}

export interface TcpCloseEvent extends ConnectionRef {
  type: 'tcp-close'
  time: bigint
  /** `fin`: both sides sent FIN; `rst`: a RST; `end`: the capture ended first. */
  reason: 'fin' | 'rst' | 'end'
  clientBytes: number
  serverBytes: number
}

export interface DataEvent extends ConnectionRef {
  type: 'data'
  /** Who sent the bytes. */
  direction: Direction
  /** Time of the packet that made these bytes contiguous. */
  time: bigint
  bytes: Buffer
  /** Offset of bytes[0] in this direction's stream (gaps count as bytes). */
  streamOffset: number
}

export interface GapEvent extends ConnectionRef {
  type: 'gap'
  direction: Direction
  time: bigint
  /** Stream offset of the first missing byte. */
  streamOffset: number
  /** Missing bytes; data resumes at streamOffset + missing. */
  missing: number
  /** What revealed the gap. */
  cause: 'fin' | 'rst' | 'buffer-limit' | 'end'
}

export interface HttpUpgradeEvent extends ConnectionRef {
  type: 'http-upgrade'
  time: bigint
  method: string
  /** The request target as sent (`/path?query`). */
  url: string
  /** Header names lower-cased; repeated headers joined with `, `. */
  requestHeaders: Record<string, string>
  /** 0 if the server never answered before the capture ended. */
  status: number
  statusText: string
  responseHeaders: Record<string, string>
  /** True when the server answered 101 to a WebSocket upgrade: frames follow. */
  websocket: boolean
  /** permessage-deflate as accepted by the server, or null. */
  deflate: DeflateParams | null
}

export interface WsMessageEvent extends ConnectionRef {
  type: 'ws-message'
  direction: Direction
  time: bigint
  opcode: 'text' | 'binary'
  /** The message, joined from its frames and inflated if it was compressed. */
  payload: Buffer
  /** RSV1 was set on the first frame (permessage-deflate). */
  compressed: boolean
  /** Stream offset of the message's first frame header. */
  streamOffset: number
  frames: number
}

export interface WsControlEvent extends ConnectionRef {
  type: 'ws-control'
  direction: Direction
  time: bigint
  opcode: 'ping' | 'pong' | 'close'
  payload: Buffer
  streamOffset: number
  /** Close frames only: the status code, if the payload had one. */
  code?: number
  /** Close frames only: the UTF-8 reason. */
  reason?: string
}

/**
 * WebSocket bytes of one direction not decoded because of a TCP gap. `lost: 'frame'`: one message
 * (one STMP frame) whose frames the gap cut into; decoding went on after it. Without `lost`: the
 * rest of the direction, from the first byte not decoded (reported when the connection ends).
 */
export interface WsUndecodableEvent extends ConnectionRef {
  type: 'ws-undecodable'
  direction: Direction
  time: bigint
  /** Stream offset of the first byte not decoded (a lost message: its first frame header). */
  streamOffset: number
  bytes: number
  /** `frame`: a message lost in a gap, decoding went on after it; `end`: the capture ended inside this message or frame. */
  lost?: 'frame' | 'end'
}

/**
 * A problem. `fatal` errors (BAD_CAPTURE) end the decoding; the others are limits or protocol
 * errors scoped to a connection or direction, and decoding goes on.
 */
export interface CaptureErrorEvent {
  type: 'error'
  error: StmpError
  code: string
  fatal: boolean
  connId?: number
  connection?: string
  direction?: Direction
  time?: bigint
}

export type CaptureEvent =
  | PacketSkippedEvent
  | IpFragmentEvent
  | TcpOpenEvent
  | TcpCloseEvent
  | DataEvent
  | GapEvent
  | HttpUpgradeEvent
  | WsMessageEvent
  | WsControlEvent
  | WsUndecodableEvent
  | CaptureErrorEvent

/** Codes carried by non-fatal error events. */
export const CaptureErrorCode = {
  /** The file is not a readable pcap/pcapng (fatal, exit 2). */
  BAD_CAPTURE: 'BAD_CAPTURE',
  /** Out-of-order data for one direction passed `maxOutOfOrderBytes`. */
  TCP_BUFFER_LIMIT: 'TCP_BUFFER_LIMIT',
  /** More simultaneous connections than `maxConnections`. */
  TCP_CONNECTION_LIMIT: 'TCP_CONNECTION_LIMIT',
  /** HTTP request or response head longer than `maxHttpHeaderBytes`. */
  HTTP_TOO_LARGE: 'HTTP_TOO_LARGE',
  /** An HTTP head that cannot be parsed. */
  BAD_HTTP: 'BAD_HTTP',
  /** A WebSocket message (joined, inflated) over `maxMessageBytes`. */
  WS_TOO_LARGE: 'WS_TOO_LARGE',
  /** A WebSocket framing error (RFC 6455 section 5); the direction is not decoded further. */
  WS_PROTOCOL: 'WS_PROTOCOL',
  /** permessage-deflate data that does not inflate. */
  WS_INFLATE: 'WS_INFLATE',
  /** A TCP gap inside the HTTP upgrade: the connection is shown as raw bytes. */
  WS_GAP: 'WS_GAP',
} as const
