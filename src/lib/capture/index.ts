/**
 * Reading packet captures: pcap/pcapng, link layers, IPv4/IPv6, TCP reassembly, HTTP Upgrade and
 * WebSocket frames. A pure library: bytes in, typed events out (see decoder.ts for the pipeline).
 */
export * from './types.js'
export { CaptureReader, detectCaptureFormat, DEFAULT_MAX_BLOCK_BYTES, DEFAULT_MAX_PACKET_BYTES, type CaptureReaderOptions } from './reader.js'
export { decodeLinkLayer, isSupportedLinkType, type LinkPayload, type LinkResult } from './linklayer.js'
export { decodeIp, decodeIpv4, decodeIpv6, decodeTcp, formatIpv4, formatIpv6, IpProtocol, TcpFlag, type IpDatagram, type TcpSegment } from './ip.js'
export {
  TcpReassembler, formatEndpoint, seqDistance, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_OUT_OF_ORDER_BYTES,
  type TcpEvent, type TcpReassemblerOptions,
} from './tcp.js'
export {
  WebSocketSession, WebSocketFrameParser, MessageInflater, parseDeflateExtension, parseHttpHead, findHeadEnd, WsOpcode,
  DEFAULT_MAX_HTTP_HEADER_BYTES, DEFAULT_MAX_MESSAGE_BYTES, type WebSocketOptions, type WebSocketEvent, type HttpHead,
} from './websocket.js'
export { CaptureDecoder, createCaptureStream, decodeCapture, type CaptureDecoderOptions, type CaptureStats } from './decoder.js'
