import { StmpError } from '../errors.js'
import { type PayloadCodec, type PayloadRole, type ProtoRegistry, decodePayload, getPayloadCodec } from '../payload/index.js'
import type { Session, StmpServer } from '../session/index.js'

/**
 * Values to payload bytes and back, by each connection's negotiated content type (wire notes
 * §9: one content type covers a whole connection, so two clients of one server may differ).
 */
export class PayloadValues {
  private readonly codecs = new Map<string, PayloadCodec>()

  constructor(private readonly protoRegistry?: ProtoRegistry) {}

  codecOf(session: Session): PayloadCodec {
    let codec = this.codecs.get(session.contentType)
    if (!codec) {
      codec = getPayloadCodec(session.contentType, { protoRegistry: this.protoRegistry })
      this.codecs.set(session.contentType, codec)
    }
    return codec
  }

  decode(session: Session, bytes: Buffer, action: string, role: PayloadRole, status?: number): unknown {
    return decodePayload(this.codecOf(session), bytes, { action, role, status })
  }

  /**
   * A value to the bytes of one connection. Bytes pass unchanged; on text/plain and
   * octet-stream connections a value that is not a string is sent as its JSON text.
   */
  encode(session: Session, value: unknown, action: string, role: PayloadRole): Buffer {
    if (Buffer.isBuffer(value)) return value
    if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    const codec = this.codecOf(session)
    if ((codec.name === 'text' || codec.name === 'raw') && value !== undefined && typeof value !== 'string') {
      return Buffer.from(JSON.stringify(value) ?? '', 'utf8')
    }
    return codec.encode(value, { action, role })
  }

  /** Pushes a value to `all`, `room:NAME` or one connection id, each in its own content type. */
  broadcast(server: StmpServer, to: string | number, action: string, value: unknown, except?: Session): number {
    let n = 0
    for (const s of targets(server, to)) {
      if (s === except || s.state !== 'open') continue
      s.push(action, this.encode(s, value, action, 'push'))
      n++
    }
    return n
  }
}

/** The sessions a `to` names: `all`, `room:NAME`, or a connection id (unknown id: BAD_INPUT). */
export function targets(server: StmpServer, to: string | number): Iterable<Session> {
  if (to === 'all') return server.sessions.values()
  if (typeof to === 'string' && to.startsWith('room:')) return server.rooms.get(to.slice(5)) ?? []
  const id = typeof to === 'number' ? to : /^\d+$/.test(to) ? Number(to) : Number.NaN
  const one = server.sessions.get(id)
  if (!one) throw new StmpError('BAD_INPUT', `no connection ${JSON.stringify(to)} (to: "all", "room:NAME", or a connection id)`)
  return [one]
}

/** The UTF-8 message of a non-2xx response (wire notes §5). */
export function statusMessage(value: unknown, status: number): Buffer {
  if (Buffer.isBuffer(value)) return value
  if (value === undefined || value === null) return Buffer.from(STATUS_TEXT[status] ?? `status ${status}`, 'utf8')
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8')
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout',
  409: 'Conflict', 413: 'Payload Too Large', 429: 'Too Many Requests', 500: 'Internal Server Error',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
}

export function isSuccess(status: number): boolean {
  return status >= 200 && status <= 299
}
