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

/** A payload (JSON text, or empty for null) as a value; BAD_PAYLOAD when it is not JSON. */
export function dataValue(payload: Buffer): unknown {
  if (payload.length === 0) return null
  try {
    return JSON.parse(payload.toString('utf8'))
  } catch {
    throw new WireError('BAD_PAYLOAD', 'Sockhop carries JSON: the payload is not JSON text', 0)
  }
}

export const uuid = (): string => randomUUID()
