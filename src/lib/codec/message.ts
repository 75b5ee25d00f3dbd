import { stmpV3, type WireDialect } from './dialect.js'
import type { Frame, FrameOptions } from './types.js'

/**
 * Decodes one WebSocket message as one STMP frame (wire notes §1: no LENGTH; the WebSocket
 * opcode picks the format). Throws StmpProtocolError; `offset` is added to error offsets.
 */
export function decodeMessage(
  message: Buffer,
  options: Pick<FrameOptions, 'format' | 'serverLatency'>,
  offset = 0,
  dialect: WireDialect = stmpV3,
): Frame {
  return dialect.decodeBody(message, 0, message.length, offset, { ...options, framing: 'websocket' })
}
