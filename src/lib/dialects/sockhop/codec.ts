import { randomUUID } from 'node:crypto'
import { WireError } from '../../errors.js'

/**
 * Sockhop 1.x / JSON mode (docs/dialects/sockhop.md): one JSON envelope per line,
 * `{"type": <constructor name>, "data": value}`, plus `"id"` (a UUID) on a send that wants a
 * callback and `"callback_id"` on the answer; SockhopPing / SockhopPong. Pure: no I/O.
 */
export interface Envelope {
  type: string
  data: unknown
  id?: string
  callback_id?: string
}

/** The constructor name Sockhop puts in `type` for a JSON value. */
export function typeOf(value: unknown): string {
  if (value === null || value === undefined) return 'Object'
  if (Array.isArray(value)) return 'Array'
  switch (typeof value) {
    case 'string': return 'String'
    case 'number': return 'Number'
    case 'boolean': return 'Boolean'
    default: return 'Object'
  }
}

export function encodeEnvelope(e: Envelope, terminator: string): Buffer {
  return Buffer.from(JSON.stringify(e) + terminator, 'utf8')
}

/** One line to an envelope; BAD_MESSAGE at `offset` when it is not one. */
export function decodeEnvelope(line: Buffer, offset: number): Envelope {
  let value: unknown
  try {
    value = JSON.parse(line.toString('utf8'))
  } catch (err) {
    throw new WireError('BAD_MESSAGE', `not a JSON line: ${(err as Error).message}`, offset)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new WireError('BAD_MESSAGE', 'a Sockhop message is a JSON object {"type","data"}', offset)
  const o = value as Record<string, unknown>
  if (typeof o.type !== 'string') throw new WireError('BAD_MESSAGE', 'a Sockhop message needs a string "type"', offset)
  const e: Envelope = { type: o.type, data: o.data }
  if (typeof o.id === 'string') e.id = o.id
  if (typeof o.callback_id === 'string') e.callback_id = o.callback_id
  return e
}

/** The payload bytes (JSON text) of an envelope's data. */
export function dataBytes(data: unknown): Buffer {
  return data === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(data), 'utf8')
}

/**
 * A payload (JSON text) as a value; BAD_PAYLOAD when it is not JSON. An empty payload is `{}`:
 * a real Sockhop side cannot send `null` (its type is the value's constructor name), and a 1.8.4
 * server whose handler answers `callback(data)` with a null throws and dies.
 */
export function dataValue(payload: Buffer): unknown {
  if (payload.length === 0) return {}
  try {
    return JSON.parse(payload.toString('utf8'))
  } catch {
    throw new WireError('BAD_PAYLOAD', 'Sockhop carries JSON: the payload is not JSON text', 0)
  }
}

export const uuid = (): string => randomUUID()

/**
 * Sockhop 2.x binary mode (wire notes §3, ObjectBuffer / obj2buf): `[u32 LE length][u8 msg id]
 * [payload]`, `length` counting the payload; the payload is `type` (u8 length + UTF-8), `data`
 * (u32 LE length + JSON text, or the raw bytes for the buffer ids) and, for the callback ids, a
 * 36-byte NUL-padded ASCII `callback_id`.
 */
export const MSG = { json: 10, jsonRequest: 11, jsonResponse: 12, buffer: 13, bufferRequest: 14, bufferResponse: 15 } as const
const CALLBACK_BYTES = 36

export interface BinaryMessage {
  msgId: number
  type: string
  /** JSON text (json ids) or the raw bytes (buffer ids). */
  data: Buffer
  callbackId?: string
}

export function isBufferId(msgId: number): boolean {
  return msgId >= MSG.buffer && msgId <= MSG.bufferResponse
}

function hasCallback(msgId: number): boolean {
  return msgId !== MSG.json && msgId !== MSG.buffer
}

export function encodeBinary(m: BinaryMessage): Buffer {
  const type = Buffer.from(m.type, 'utf8')
  if (type.length > 255) throw new WireError('BAD_INPUT', `a Sockhop type name is at most 255 bytes (obj2buf's u8 length): ${type.length}`, 0)
  const callback = hasCallback(m.msgId)
  const length = 1 + type.length + 4 + m.data.length + (callback ? CALLBACK_BYTES : 0)
  const out = Buffer.alloc(5 + length)
  out.writeUInt32LE(length, 0)
  out[4] = m.msgId
  out[5] = type.length
  type.copy(out, 6)
  let at = 6 + type.length
  out.writeUInt32LE(m.data.length, at)
  at += 4
  m.data.copy(out, at)
  at += m.data.length
  if (callback) out.write((m.callbackId ?? '').slice(0, CALLBACK_BYTES), at, 'latin1')
  return out
}

/**
 * Binary frames from a byte stream, fed in chunks of any size. A frame longer than `maxFrame`,
 * an unknown message id or a payload whose fields do not add up to its length are coded errors
 * (thrown: the connection cannot be read on after them, there is no resync marker).
 */
export class BinaryReader {
  offset = 0
  private held: Buffer = Buffer.alloc(0)

  constructor(private readonly maxFrame: number, private readonly onMessage: (m: BinaryMessage, offset: number, length: number) => void) {}

  get buffered(): number {
    return this.held.length
  }

  write(chunk: Buffer): void {
    let buf = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk
    let at = 0
    while (buf.length - at >= 5) {
      const length = buf.readUInt32LE(at)
      if (length > this.maxFrame) throw new WireError('TOO_LARGE', `a binary frame of ${length} bytes is over the ${this.maxFrame}-byte limit`, this.offset)
      if (buf.length - at < 5 + length) break
      const m = parseBinary(buf.subarray(at + 4, at + 5 + length), this.offset)
      const offset = this.offset
      this.offset += 5 + length
      at += 5 + length
      this.onMessage(m, offset, 5 + length)
    }
    this.held = at === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at))
    buf = this.held
  }
}

/** `frame`: the msg id byte and the payload. */
function parseBinary(frame: Buffer, offset: number): BinaryMessage {
  const msgId = frame[0]
  if (msgId < MSG.json || msgId > MSG.bufferResponse) throw new WireError('BAD_KIND', `unknown Sockhop binary message id ${msgId} (10-15 are json, json request, json response, buffer, buffer request, buffer response)`, offset + 4, { kind: 'unknown' })
  const bad = (what: string) => new WireError('BAD_FRAME', `Sockhop binary message ${msgId}: ${what}`, offset + 4)
  const typeLength = frame[1]
  if (typeLength === undefined || 2 + typeLength + 4 > frame.length) throw bad('its type runs past the frame')
  const type = frame.toString('utf8', 2, 2 + typeLength)
  let at = 2 + typeLength
  const dataLength = frame.readUInt32LE(at)
  at += 4
  const callback = hasCallback(msgId)
  if (at + dataLength + (callback ? CALLBACK_BYTES : 0) !== frame.length) throw bad(`a type, ${dataLength} data bytes${callback ? ' and a 36-byte callback id' : ''} do not make its ${frame.length - 1}-byte payload`)
  const m: BinaryMessage = { msgId, type, data: frame.subarray(at, at + dataLength) }
  if (callback) m.callbackId = frame.toString('latin1', at + dataLength, frame.length).replace(/\0+$/, '')
  return m
}
