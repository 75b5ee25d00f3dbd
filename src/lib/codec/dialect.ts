import { decodeBinaryBody, decodeBinaryHead, frameFromHead, binaryBodySize, peekMessageHead, writeBinaryBody, type FrameHead, type MessageHeadBits } from './binary.js'
import { decodeHandshakeRequest, decodeHandshakeResponse, encodeHandshakeRequest, encodeHandshakeResponse } from './handshake.js'
import { decodeTextBody, textBodySize, writeTextBody } from './text.js'
import type { Frame, FrameOptions, HandshakeRequestFrame, HandshakeResponseFrame } from './types.js'
import { lengthSize, readLength, writeLength } from './varint.js'

/**
 * A wire dialect: everything that differs between protocols that share STMP's model
 * (request/response/push/ping/close over stream or message transports). The stream decoder,
 * the reassembler, sessions and `decode` only talk to this interface, so another dialect
 * (stmp-go 1.0, Stocking, Sockhop, CAMP) can sit beside STMP v3 without a switch spread
 * through the code. Only STMP v3 is implemented.
 */
export interface WireDialect {
  readonly name: string
  /** Reads a frame length prefix; see varint.ts for the return convention. */
  readLength(buf: Uint8Array, pos: number, end: number, out: { size: number }): number
  lengthSize(value: number): number
  writeLength(buf: Uint8Array, pos: number, value: number): number
  /** Decodes one frame body (no length prefix); throws StmpProtocolError. */
  decodeBody(buf: Buffer, start: number, end: number, offset: number, options: FrameOptions): Frame
  /** A binary frame body into `head` in place (stream framing is always binary); throws StmpProtocolError. */
  decodeHead(buf: Buffer, start: number, end: number, offset: number, options: FrameOptions, head: FrameHead): void
  /** A message frame's kind, id and fragment bits from the first bytes of its body (binary), if they are in and valid. */
  peekMessageHead(buf: Uint8Array, start: number, end: number): MessageHeadBits | undefined
  /** The Frame a decoded head describes; throws StmpProtocolError (a Close message that is not UTF-8). */
  frameFromHead(head: FrameHead, buf: Buffer, offset: number): Frame
  bodySize(frame: Frame, options: FrameOptions): number
  writeBody(frame: Frame, options: FrameOptions, buf: Buffer, pos: number): number
  decodeHandshakeRequest(buf: Buffer, start: number, end: number, offset: number): HandshakeRequestFrame
  decodeHandshakeResponse(buf: Buffer, start: number, end: number, offset: number): HandshakeResponseFrame
  encodeHandshakeRequest(frame: Pick<HandshakeRequestFrame, 'url' | 'headers'>): Buffer
  encodeHandshakeResponse(frame: Pick<HandshakeResponseFrame, 'status' | 'message'>): Buffer
}

export const stmpV3: WireDialect = {
  name: 'stmp-v3',
  readLength,
  lengthSize,
  writeLength,
  decodeBody(buf, start, end, offset, options) {
    return options.format === 'text'
      ? decodeTextBody(buf, start, end, offset, options)
      : decodeBinaryBody(buf, start, end, offset, options)
  },
  decodeHead: decodeBinaryHead,
  peekMessageHead,
  frameFromHead,
  bodySize(frame, options) {
    return options.format === 'text' ? textBodySize(frame, options) : binaryBodySize(frame, options)
  },
  writeBody(frame, options, buf, pos) {
    return options.format === 'text' ? writeTextBody(frame, options, buf, pos) : writeBinaryBody(frame, options, buf, pos)
  },
  decodeHandshakeRequest,
  decodeHandshakeResponse,
  encodeHandshakeRequest,
  encodeHandshakeResponse,
}
