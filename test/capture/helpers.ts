/** Shared helpers for the capture tests: decode a file and pick events, build WebSocket frames. */
import { decodeCapture, type CaptureDecoderOptions } from '../../src/lib/capture/decoder.js'
import type { CaptureEvent, DataEvent, Direction } from '../../src/lib/capture/types.js'

export type EventOf<T extends CaptureEvent['type']> = Extract<CaptureEvent, { type: T }>

export function ofType<T extends CaptureEvent['type']>(events: CaptureEvent[], type: T): EventOf<T>[] {
  return events.filter((e): e is EventOf<T> => e.type === type)
}

/** All `data` bytes of one direction joined, after checking their stream offsets are contiguous (gaps allowed). */
export function streamOf(events: CaptureEvent[], direction: Direction, connId?: number): Buffer {
  const data = ofType(events, 'data').filter((e: DataEvent) => e.direction === direction && (connId === undefined || e.connId === connId))
  const gaps = ofType(events, 'gap').filter((e) => e.direction === direction && (connId === undefined || e.connId === connId))
  let expected = 0
  const parts: Buffer[] = []
  const all = [...data.map((d) => ({ offset: d.streamOffset, length: d.bytes.length, bytes: d.bytes as Buffer | undefined })),
    ...gaps.map((g) => ({ offset: g.streamOffset, length: g.missing, bytes: undefined }))]
  for (const piece of all.sort((a, b) => a.offset - b.offset)) {
    if (piece.offset !== expected) throw new Error(`stream offset ${piece.offset}, expected ${expected}`)
    if (piece.bytes !== undefined) parts.push(piece.bytes)
    expected += piece.length
  }
  return Buffer.concat(parts)
}

/** Decodes whole, and one byte at a time; both must give the same events. */
export function decodeBoth(file: Buffer, options: CaptureDecoderOptions = {}): CaptureEvent[] {
  const whole = decodeCapture(file, options)
  const bytewise = decodeCapture((function* () {
    for (let i = 0; i < file.length; i++) yield file.subarray(i, i + 1)
  })(), options)
  if (JSON.stringify(comparable(whole)) !== JSON.stringify(comparable(bytewise))) {
    throw new Error('byte-at-a-time decoding differs from whole-file decoding')
  }
  return whole
}

/** Events as plain JSON (bigint as string, Buffer as hex, StmpError as code+message). */
export function comparable(events: CaptureEvent[]): unknown[] {
  return JSON.parse(JSON.stringify(events, (key, value) => {
    if (typeof value === 'bigint') return value.toString()
    if (key === 'error') return { code: value.code, message: value.message, offset: value.offset }
    if (value !== null && typeof value === 'object' && value.type === 'Buffer' && Array.isArray(value.data)) return Buffer.from(value.data).toString('hex')
    return value
  }))
}

export interface FrameSpec {
  fin?: boolean
  rsv1?: boolean
  opcode: number
  payload: Buffer
  /** A 4-byte mask key; client frames pass one. */
  mask?: Buffer
}

/** An RFC 6455 frame, with 7-, 16- or 64-bit length as the payload needs. */
export function wsFrame(spec: FrameSpec): Buffer {
  const { payload, mask } = spec
  const byte0 = ((spec.fin ?? true) ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) | spec.opcode
  let head: Buffer
  if (payload.length < 126) {
    head = Buffer.from([byte0, payload.length])
  } else if (payload.length < 65536) {
    head = Buffer.alloc(4)
    head[0] = byte0
    head[1] = 126
    head.writeUInt16BE(payload.length, 2)
  } else {
    head = Buffer.alloc(10)
    head[0] = byte0
    head[1] = 127
    head.writeBigUInt64BE(BigInt(payload.length), 2)
  }
  if (mask === undefined) return Buffer.concat([head, payload])
  head[1] |= 0x80
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]))
  return Buffer.concat([head, mask, masked])
}

export const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d])

export function upgradeRequest(url: string, extensions?: string): Buffer {
  const lines = [
    `GET ${url} HTTP/1.1`, 'Host: 127.0.0.1:9000', 'Upgrade: websocket', 'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', 'Authorization: Bearer t0k3n',
  ]
  if (extensions !== undefined) lines.push(`Sec-WebSocket-Extensions: ${extensions}`)
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`)
}

export function upgradeResponse(extensions?: string, status = '101 Switching Protocols'): Buffer {
  const lines = [`HTTP/1.1 ${status}`]
  if (status.startsWith('101')) lines.push('Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
  if (extensions !== undefined) lines.push(`Sec-WebSocket-Extensions: ${extensions}`)
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`)
}
