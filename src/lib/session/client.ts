import { StmpError } from '../errors.js'
import { type Address, type DialOptions, dial, handshakeUrl, parseAddress } from '../transport/index.js'
import { CONTENT_TYPES } from './handshake.js'
import type { SessionOptions } from './options.js'
import { Session } from './session.js'

export interface ConnectOptions extends Partial<SessionOptions>, DialOptions {
  /** MIME type for `stmp_content_type` (default application/json). */
  contentType?: string
  /** Sent as `Authorization: Bearer TOKEN`. */
  token?: string
  /** Called before the handshake, so `-v` sees it. */
  prepare?(session: Session): void
}

/**
 * Opens a client session: dial, then the STMP handshake on streams (the upgrade on WebSocket).
 * Path and query options travel as the wire notes say (§8): stmp_version=3 always,
 * stmp_content_type when not JSON, stmp_server_latency=1 when asked for.
 */
export async function connect(target: string | Address, options: ConnectOptions = {}): Promise<Session> {
  const address = typeof target === 'string' ? parseAddress(target) : { ...target, query: new URLSearchParams(target.query) }
  const query = address.query
  if (!query.has('stmp_version')) query.set('stmp_version', '3')
  const contentType = options.contentType ?? query.get('stmp_content_type') ?? 'application/json'
  if (!(CONTENT_TYPES as readonly string[]).includes(contentType)) {
    throw new StmpError('BAD_FLAG', `unknown content type ${contentType} (one of ${CONTENT_TYPES.join(', ')})`)
  }
  if (contentType !== 'application/json') query.set('stmp_content_type', contentType)
  const serverLatency = options.serverLatency ?? query.get('stmp_server_latency') === '1'
  if (serverLatency) query.set('stmp_server_latency', '1')
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`
  const transport = await dial(address, { ...options, headers, maxMessageSize: options.limits?.maxMessageSize })
  const session = new Session(transport, { ...options, role: 'client', serverLatency })
  session.contentType = contentType
  options.prepare?.(session)
  const url = handshakeUrl(address)
  if (transport.framing === 'stream') await session.handshake(url, headers, options.timeout)
  else session.accept(url, Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])), { contentType, serverLatency })
  return session
}
