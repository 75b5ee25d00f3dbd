import type { CaptureDecoder, CaptureSupport, SniffInput } from '../types.js'
import { TYPE, decodeRequestBody, decodeResponseBody, looksLikeRequestBody, splitMessage, statusOf } from './codec.js'

/**
 * Reading Stocking in captures: one WebSocket message is one message. Each is shown as what it
 * is on the wire (kind, ccode, route, room, payload); the id is the ccode when it is a number.
 */

/** `type,ccode,content` with a known type, or a bare `0`/`3` (the server's Connect and pong). */
function looksLikeMessage(bytes: Buffer | undefined, from: 'client' | 'server'): 0 | 1 | 2 {
  if (bytes === undefined || bytes.length === 0 || bytes.length > 1 << 20) return 0
  const m = splitMessage(bytes.toString('utf8'))
  if (!/^[0-6]$/.test(m.type)) return 0
  if (m.parts === 1) return from === 'server' && (m.type === TYPE.connect || m.type === TYPE.ping) ? (m.type === TYPE.connect ? 2 : 1) : 0
  if (m.parts !== 3) return 0
  if (m.type === TYPE.message) {
    if (from === 'client') return looksLikeRequestBody(m.content) ? 2 : 0
    try {
      decodeResponseBody(m.content)
      return 2
    } catch {
      return 0
    }
  }
  if (m.type === TYPE.join) return m.ccode === '0' || m.ccode === '1' ? 2 : 0
  return 1
}

export const capture: CaptureSupport = {
  sniff(first: SniffInput) {
    if (first.framing !== 'websocket') return 0
    const server = looksLikeMessage(first.server, 'server')
    const client = looksLikeMessage(first.client, 'client')
    // The server's first message is always the Connect "0": sure with it, a maybe without.
    if (server === 2 && (client > 0 || first.client === undefined)) return 2
    if (client === 2 && first.server === undefined) return 1
    return server > 0 || client > 0 ? 1 : 0
  },
  decoder(context) {
    const decoder: CaptureDecoder = {
      write(data, offset) {
        if (context.framing !== 'websocket') {
          decoder.onError?.({ code: 'NOT_WEBSOCKET', message: 'Stocking runs over WebSocket only: these are stream bytes', offset, bytes: data })
          return
        }
        try {
          decoder.onFrame?.({ ...frameOf(data.toString('utf8'), context.direction), offset, length: data.length })
        } catch (err) {
          decoder.onError?.({ code: (err as { code?: string }).code ?? 'BAD_MESSAGE', message: (err as Error).message, offset, bytes: data })
        }
      },
      end() {},
    }
    return decoder
  },
}

type Fields = { kind: string; [field: string]: unknown }

/** One message as `decode` shows it. Throws WireError on what no Stocking peer sends. */
export function frameOf(text: string, from: 'client' | 'server'): Fields {
  const m = splitMessage(text)
  const id = /^[1-9]\d{0,8}$/.test(m.ccode) ? Number(m.ccode) : undefined
  // The server reads every message as type,ccode,content; only its own Connect, pong and Close are shorter.
  if (from === 'client' && m.parts !== 3) throw codedError('BAD_MESSAGE', `${JSON.stringify(text.slice(0, 60))}: fewer than two commas (a Stocking server drops the connection)`)
  switch (m.type) {
    case TYPE.connect:
      return { kind: 'connect' }
    case TYPE.ping:
      return { kind: m.parts === 1 ? 'pong' : 'ping' }
    case TYPE.close:
      return { kind: 'close' }
    default:
      break
  }
  if (m.parts !== 3) throw codedError('BAD_MESSAGE', `${JSON.stringify(text.slice(0, 60))}: a message of type ${JSON.stringify(m.type)} is type,ccode,content`)
  switch (m.type) {
    case TYPE.error:
      return { kind: 'error', ccode: m.ccode, message: m.content }
    case TYPE.message: {
      if (from === 'client' || (m.content !== '' && looksLikeRequestBody(m.content))) {
        const { route, payload, dropped } = lenientRequest(m.content)
        const kind = m.ccode === '0' ? 'push' : 'request'
        return { kind, ...(kind === 'request' && id !== undefined ? { id } : {}), ccode: m.ccode, action: route, payload, ...(dropped ? { serverDrops: dropped } : {}) }
      }
      const body = decodeResponseBody(m.content)
      const status = statusOf(body.code)
      const fields: Fields = { kind: 'response', ...(id !== undefined ? { id } : {}), ccode: m.ccode, status, code: body.code }
      if (m.content === '') return fields
      if (status !== 200 && body.text !== undefined) return { ...fields, message: body.text }
      return { ...fields, payload: body.payload }
    }
    case TYPE.broadcast:
      return { kind: 'broadcast', room: m.ccode, payload: Buffer.from(m.content, 'utf8') }
    case TYPE.join:
      if (m.ccode === '1' || m.ccode === '0') return { kind: m.ccode === '1' ? 'join' : 'leave', room: m.content }
      return { kind: 'unknown', type: m.type, ccode: m.ccode, content: m.content }
    default:
      return { kind: 'unknown', type: m.type, ccode: m.ccode, content: m.content }
  }
}

/**
 * A request body as sent, even one the real server would drop (a `p` that is not an object):
 * decode shows it and says so (`serverDrops`: the error code a stmpcat server closes with).
 */
function lenientRequest(content: string): { route: string; payload: Buffer; dropped?: string } {
  try {
    const b = decodeRequestBody(content)
    return { route: b.route, payload: b.payload }
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'BAD_BODY'
    let value: unknown
    try {
      value = JSON.parse(content)
    } catch {
      throw err
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw err
    const o = value as Record<string, unknown>
    return { route: typeof o.e === 'string' ? o.e : '', payload: Buffer.from(JSON.stringify(o.p ?? null), 'utf8'), dropped: code }
  }
}

function codedError(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code })
}
