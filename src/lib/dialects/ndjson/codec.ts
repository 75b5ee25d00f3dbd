import { WireError } from '../../errors.js'

/**
 * The ndjson dialect's messages: one JSON object per line (streams) or per WebSocket message.
 *   {"id":1,"action":"user.get","payload":{...}}     request (id 1..65535)
 *   {"id":1,"status":200,"payload":{...}}            response
 *   {"action":"news","payload":{...}}                push (no id)
 *   {"ping":7} / {"pong":7}                          ping and its answer
 *   {"close":1000,"message":"bye"}                   close
 * A payload that is not JSON text travels as "payloadBase64". Pure: no I/O.
 */
export type NdjsonMessage =
  | { kind: 'request'; id: number; action: string; payload: Buffer }
  | { kind: 'response'; id: number; status: number; payload: Buffer }
  | { kind: 'push'; action: string; payload: Buffer }
  | { kind: 'ping' | 'pong'; id: number }
  | { kind: 'close'; status: number; message: string }

export function encodeMessage(m: NdjsonMessage, terminator = '\n'): Buffer {
  let fields: string
  switch (m.kind) {
    case 'request': fields = `"id":${m.id},"action":${JSON.stringify(m.action)},${payloadField(m.payload)}`; break
    case 'response': fields = `"id":${m.id},"status":${m.status},${payloadField(m.payload)}`; break
    case 'push': fields = `"action":${JSON.stringify(m.action)},${payloadField(m.payload)}`; break
    case 'ping': fields = `"ping":${m.id}`; break
    case 'pong': fields = `"pong":${m.id}`; break
    case 'close': fields = `"close":${m.status},"message":${JSON.stringify(m.message)}`; break
  }
  return Buffer.from(`{${fields}}${terminator}`, 'utf8')
}

function payloadField(payload: Buffer): string {
  if (payload.length === 0) return '"payload":null'
  const text = payload.toString('utf8')
  try {
    JSON.parse(text)
    if (!text.includes('\n')) return `"payload":${text}`
  } catch {
    // not JSON: base64 below
  }
  return `"payloadBase64":"${payload.toString('base64')}"`
}

const isId = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffff

/** One line (without its terminator) to a message; throws WireError BAD_MESSAGE at `offset`. */
export function decodeMessage(line: Buffer, offset: number): NdjsonMessage {
  let value: unknown
  try {
    value = JSON.parse(line.toString('utf8'))
  } catch (err) {
    throw new WireError('BAD_MESSAGE', `not a JSON line: ${(err as Error).message}`, offset)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new WireError('BAD_MESSAGE', 'a line must be a JSON object', offset)
  const o = value as Record<string, unknown>
  const payload = (): Buffer => {
    if (typeof o.payloadBase64 === 'string') return Buffer.from(o.payloadBase64, 'base64')
    return o.payload === undefined || o.payload === null ? Buffer.alloc(0) : Buffer.from(JSON.stringify(o.payload), 'utf8')
  }
  if (isId(o.ping)) return { kind: 'ping', id: o.ping }
  if (isId(o.pong)) return { kind: 'pong', id: o.pong }
  if (Number.isInteger(o.close)) return { kind: 'close', status: o.close as number, message: typeof o.message === 'string' ? o.message : '' }
  if (Number.isInteger(o.status)) {
    if (!isId(o.id)) throw new WireError('BAD_MESSAGE', 'a response needs an "id" from 0 to 65535', offset)
    return { kind: 'response', id: o.id, status: o.status as number, payload: payload() }
  }
  if (typeof o.action === 'string' && o.action !== '') {
    if (o.id === undefined) return { kind: 'push', action: o.action, payload: payload() }
    if (!isId(o.id) || o.id === 0) throw new WireError('BAD_MESSAGE', 'a request needs an "id" from 1 to 65535', offset)
    return { kind: 'request', id: o.id, action: o.action, payload: payload() }
  }
  throw new WireError('BAD_MESSAGE', 'a line needs "action" (request, push), "status" (response), "ping", "pong" or "close"', offset)
}
