/**
 * The STMP frame model (wire notes §3, §5, §8). Names follow the wire notes: kind, id (MESSAGE ID),
 * follow, fin, action, status, latency, payload.
 */

export type Kind = 'ping' | 'request' | 'push' | 'response' | 'close'
export type HandshakeKind = 'handshake-request' | 'handshake-response'
export type Format = 'binary' | 'text'
/** `stream`: LENGTH-prefixed frames (tcp, tls, unix). `websocket`: one frame per WebSocket message. */
export type Framing = 'stream' | 'websocket'

/** KIND field values of the binary head (wire notes §3). */
export const KIND_CODE = { ping: 0, request: 1, push: 2, response: 3, close: 4 } as const
export const KIND_BY_CODE: readonly (Kind | undefined)[] = ['ping', 'request', 'push', 'response', 'close']
/** The text-format head characters (wire notes §3). */
export const TEXT_KIND_CHAR = { ping: 'p', request: 'q', push: 'n', response: 's', close: 'c' } as const

/**
 * A Request or Push frame. `action` is present unless `follow` (a continuation frame carries only
 * the id and a payload chunk, wire notes §7).
 */
export interface RequestFrame {
  kind: 'request' | 'push'
  id: number
  action?: string
  payload: Buffer
  follow: boolean
  fin: boolean
}

/** A Response frame. `status` is present unless `follow`; `latency` is null without the option. */
export interface ResponseFrame {
  kind: 'response'
  id: number
  status?: number
  latency?: number | null
  payload: Buffer
  follow: boolean
  fin: boolean
}

export interface PingFrame {
  kind: 'ping'
  id: number
}

/** A Close frame; `status` is the WebSocket close code, as the conformance vectors name it. */
export interface CloseFrame {
  kind: 'close'
  status: number
  message: string
}

export interface HandshakeRequestFrame {
  kind: 'handshake-request'
  /** Path and query, e.g. `/?stmp_version=3&stmp_content_type=application/json`. */
  url: string
  /** Header keys lower-cased (wire notes §8: keys are case-insensitive). */
  headers: Record<string, string>
}

export interface HandshakeResponseFrame {
  kind: 'handshake-response'
  status: number
  message: string
}

export type MessageFrame = RequestFrame | ResponseFrame
export type Frame = RequestFrame | ResponseFrame | PingFrame | CloseFrame
export type AnyFrame = Frame | HandshakeRequestFrame | HandshakeResponseFrame

/** What a decoder must be told about the connection (the handshake tells a live session). */
export interface FrameOptions {
  format: Format
  framing: Framing
  /** Responses carry the latency field (`stmp_server_latency=1`, wire notes §5). */
  serverLatency: boolean
}

export const DEFAULT_FRAME_OPTIONS: FrameOptions = { format: 'binary', framing: 'stream', serverLatency: false }

/** Limits (wire notes §10); every one has a coded error. */
export interface Limits {
  /** Largest LENGTH accepted (bytes after LENGTH). Over it: TOO_LARGE (Close 1009). */
  maxFrameSize: number
  /** Largest reassembled message payload. Over it: TOO_LARGE. */
  maxMessageSize: number
  /** Fragmented messages open at once per direction. Over it: TOO_LARGE (Close 1008). */
  maxOpenMessages: number
}

/** The wire's own ceiling: a 4-byte LENGTH holds at most 2^28 - 1 (wire notes §2). */
export const MAX_LENGTH = 0x0fffffff

export const DEFAULT_LIMITS: Limits = {
  maxFrameSize: 16 * 1024 * 1024,
  maxMessageSize: 64 * 1024 * 1024,
  maxOpenMessages: 64,
}

/** Frames a sender splits a large payload into by default (bytes of LENGTH per frame). */
export const DEFAULT_FRAGMENT_SIZE = 64 * 1024
