/**
 * The STMP codec: frame model, binary and text formats, LENGTH, handshake, streaming decoder,
 * fragmentation. Pure: no sockets, no files, no timers (style.md "The codec is a pure unit").
 */
export * from './types.js'
export * from './errors.js'
export { readLength, writeLength, lengthSize, LENGTH_INCOMPLETE, LENGTH_INVALID } from './varint.js'
export { readTextNumber, writeTextNumber } from './text-number.js'
export { headByte } from './binary.js'
export { encodeHandshakeRequest, encodeHandshakeResponse, handshakeRequestText, looksLikeHandshake } from './handshake.js'
export { stmpV3, type WireDialect } from './dialect.js'
export { encodeFrame, encodeFrameInto, encodeFragmented, encodedSize } from './encode.js'
export { decodeMessage } from './message.js'
export { StreamDecoder, type LostFrame, type StreamDecoderOptions, type FrameHandler, type HeadHandler, type ProtocolErrorHandler } from './stream-decoder.js'
export { newFrameHead, type FrameHead, type MessageHeadBits } from './binary.js'
export { Reassembler } from './reassembler.js'
export { frameToJson, frameFromJson, type FrameJson } from './json.js'
