/**
 * The `decode` pipeline for byte input (hex dumps, base64, raw bytes): input text -> bytes ->
 * STMP frames and protocol errors, in input order, through a sink. No I/O, no rendering.
 *
 * The pipeline is in two steps so that another input can plug in beside the byte path: a source
 * turns the input into DecodeEvents (this file: `decodeInput` for dumps and raw bytes; a capture
 * source adds `meta` such as time and direction) and the renderers in `src/lib/render/` only see
 * DecodeEvents. The decoder is the codec's own StreamDecoder / decodeMessage, the same code live
 * sessions use (style.md "The codec is a pure unit").
 */
import {
  DEFAULT_LIMITS, StmpProtocolError, StreamDecoder, decodeMessage, stmpV3,
  type AnyFrame, type Format, type Framing,
} from '../codec/index.js'
import { StmpError } from '../errors.js'
import { parseInput } from './hexdump.js'

/** How the input's bytes are written (`--input`). `auto` detects hex, dumps and base64. */
export const BYTE_INPUT_MODES = ['auto', 'hex', 'base64', 'raw'] as const
export type ByteInputMode = (typeof BYTE_INPUT_MODES)[number]

export type HandshakeSide = 'none' | 'client' | 'server'

export interface DecodeOptions {
  /** `stream`: LENGTH-prefixed frames; `websocket`: the whole input is ONE WebSocket message. */
  transport: Framing
  format: Format
  /** Responses carry the latency field (wire notes §5). */
  serverLatency: boolean
  /** The stream starts with this side's handshake frame (wire notes §8). */
  handshake: HandshakeSide
  /** Largest frame accepted, bytes after LENGTH (wire notes §10); over it: TOO_LARGE. */
  maxFrameSize: number
}

export const DEFAULT_DECODE_OPTIONS: DecodeOptions = {
  transport: 'stream',
  format: 'binary',
  serverLatency: false,
  handshake: 'none',
  maxFrameSize: DEFAULT_LIMITS.maxFrameSize,
}

/** A decoded frame: `offset` is where it starts in the decoded bytes (its LENGTH byte on a stream), `length` its size including LENGTH. */
export interface FrameEvent {
  type: 'frame'
  frame: AnyFrame
  offset: number
  length: number
  /** Extra fields a source knows (a capture: time, direction, connection); printed as they are. */
  meta?: Record<string, unknown>
}

export interface ErrorEvent {
  type: 'error'
  error: StmpProtocolError
  meta?: Record<string, unknown>
}

export type DecodeEvent = FrameEvent | ErrorEvent
export type DecodeSink = (event: DecodeEvent) => void

export interface DecodeSummary {
  /** What the input was read as: `hex`, `xxd`, `hexdump -C`, `od`, `base64`, `raw`, ... */
  input: string
  /** Bytes decoded (after hex/base64 decoding). */
  bytes: number
  frames: number
  errors: number
  /** Protocol errors by code, in order of first appearance. */
  errorCodes: Record<string, number>
  /** What the errors suggest was meant (a client stream decoded without --handshake client). */
  hint?: string
}

/** Rejects flag combinations the wire does not have (a usage error, exit 2). */
export function checkDecodeOptions(options: DecodeOptions): void {
  if (options.transport === 'stream' && options.format === 'text') {
    throw new StmpError('BAD_FLAG', '--format text needs --transport websocket: stream transports carry the binary format only')
  }
  if (options.transport === 'websocket' && options.handshake !== 'none') {
    throw new StmpError('BAD_FLAG', '--handshake needs --transport stream: on WebSocket the HTTP upgrade is the handshake')
  }
  if (!Number.isInteger(options.maxFrameSize) || options.maxFrameSize < 1) {
    throw new StmpError('BAD_FLAG', `--max-frame: ${options.maxFrameSize} is not a size of at least 1 byte`)
  }
}

/**
 * Decodes `bytes` and sends every frame and protocol error to `sink` in input order. Never throws
 * a protocol error: it reports it and goes on with the next frame wherever LENGTH allows
 * (wire notes §10). Returns the counts.
 */
export function decodeBytes(bytes: Buffer, options: DecodeOptions, sink: DecodeSink): Omit<DecodeSummary, 'input'> {
  checkDecodeOptions(options)
  const summary: Omit<DecodeSummary, 'input'> = { bytes: bytes.length, frames: 0, errors: 0, errorCodes: {} }
  const frame = (f: AnyFrame, offset: number, length: number): void => {
    summary.frames++
    sink({ type: 'frame', frame: f, offset, length })
  }
  const error = (found: StmpProtocolError): void => {
    const err = summary.frames === 0 && summary.errors === 0 ? withHandshakeHint(found, bytes, options) : found
    if (err !== found) summary.hint = HANDSHAKE_HINT
    summary.errors++
    summary.errorCodes[err.code] = (summary.errorCodes[err.code] ?? 0) + 1
    sink({ type: 'error', error: err })
  }
  if (options.transport === 'websocket') {
    if (bytes.length > options.maxFrameSize) {
      error(new StmpProtocolError('TOO_LARGE', `message of ${bytes.length} bytes is over the ${options.maxFrameSize}-byte limit`, 0))
      return summary
    }
    try {
      frame(decodeMessage(bytes, { format: options.format, serverLatency: options.serverLatency }), 0, bytes.length)
    } catch (err) {
      if (!(err instanceof StmpProtocolError)) throw err
      error(err)
    }
    return summary
  }
  const decoder = new StreamDecoder(frame, error, {
    serverLatency: options.serverLatency,
    handshake: options.handshake,
    maxFrameSize: options.maxFrameSize,
    // A fragmented message may be as large as the user allows a frame to be, or the default.
    maxMessageSize: Math.max(options.maxFrameSize, DEFAULT_LIMITS.maxMessageSize),
    continueAfterError: true,
  })
  decoder.write(bytes)
  decoder.end()
  return summary
}

/**
 * The first frame of a stream decoded without --handshake fails on its head byte, and that byte
 * is `/` (0x2f), the first character of a handshake URL: the stream most likely starts with the
 * client's handshake. Says so, in the error's message (its code and offset stay).
 */
function withHandshakeHint(err: StmpProtocolError, bytes: Buffer, options: DecodeOptions): StmpProtocolError {
  if (options.transport !== 'stream' || options.handshake !== 'none' || err.offset !== 0) return err
  const lengthOut = { size: 0 }
  if (stmpV3.readLength(bytes, 0, bytes.length, lengthOut) < 0 || bytes[lengthOut.size] !== 0x2f) return err
  return new StmpProtocolError(err.code, `${err.message}; ${HANDSHAKE_HINT}`, err.offset, { kind: err.kind, messageId: err.messageId })
}

const HANDSHAKE_HINT = 'the input starts like a client handshake (0x2f is "/", the start of its URL): give --handshake client (--handshake server for the server\'s side)'

/**
 * The byte-input source: reads `data` as `mode` says (hex, an xxd / hexdump -C / od dump,
 * base64 or raw bytes; `auto` detects which), then decodes it. With `--format text` the input
 * is the text message itself, so `auto` means raw (a text frame such as `pAAE` is also valid
 * base64 and must not be taken for it).
 */
export function decodeInput(data: Buffer, mode: ByteInputMode, options: DecodeOptions, sink: DecodeSink): DecodeSummary {
  checkDecodeOptions(options)
  const parsed = options.format === 'text' && mode === 'auto' ? { bytes: data, detected: 'raw' } : parseInput(data, mode)
  return { input: parsed.detected, ...decodeBytes(parsed.bytes, options, sink) }
}

/** One line for stderr: `3 frames, 1 protocol error (NO_ACTION_END) in 42 bytes of hex input`. */
export function summaryLine(summary: DecodeSummary): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  let line = plural(summary.frames, 'frame')
  if (summary.errors > 0) {
    const codes = Object.entries(summary.errorCodes).map(([code, n]) => (n === 1 ? code : `${code} x${n}`))
    line += `, ${plural(summary.errors, 'protocol error')} (${codes.join(', ')})`
  } else {
    line += ', no protocol errors'
  }
  line += ` in ${plural(summary.bytes, 'byte')} of ${summary.input} input`
  return summary.hint === undefined ? line : `${line}; ${summary.hint}`
}
