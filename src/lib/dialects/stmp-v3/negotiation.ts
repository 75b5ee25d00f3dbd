import { StmpError } from '../../errors.js'
import type { DialectOptions, NegotiationDecision, NegotiationPolicy, UpgradeRequest } from '../types.js'

/**
 * STMP v3 negotiation, the same for a stream's handshake frame and a WebSocket upgrade
 * (docs/protocol.md §8): the handshake URL's query (stmp_version, stmp_content_type,
 * stmp_server_latency), credentials, shutting down. The only place these rules live.
 */

export const CONTENT_TYPES = ['application/json', 'application/msgpack', 'application/protobuf', 'text/plain', 'application/octet-stream'] as const

/** Longest handshake URL (path and query) a server accepts; longer is refused with 400. */
export const MAX_HANDSHAKE_URL = 8192

/** What a client puts in the handshake URL's query (on a stream and in the upgrade alike). */
export function clientQuery(options: DialectOptions, given: URLSearchParams): UpgradeRequest {
  const query: Record<string, string> = {}
  if (!given.has('stmp_version')) query.stmp_version = '3'
  const contentType = options.contentType ?? given.get('stmp_content_type') ?? 'application/json'
  if (!(CONTENT_TYPES as readonly string[]).includes(contentType)) {
    throw new StmpError('BAD_FLAG', `unknown content type ${contentType} (one of ${CONTENT_TYPES.join(', ')})`)
  }
  if (contentType !== 'application/json') query.stmp_content_type = contentType
  if (options.serverLatency === true || given.get('stmp_server_latency') === '1') query.stmp_server_latency = '1'
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`
  return { query, headers }
}

/** Whether a handshake URL (or an upgrade URL) asks for server latency on Responses. */
export function urlServerLatency(url: string): boolean {
  const q = url.indexOf('?')
  return q !== -1 && new URLSearchParams(url.slice(q + 1)).get('stmp_server_latency') === '1'
}

/** Whether a URL carries one of STMP v3's `stmp_*` handshake parameters. */
export function urlHasStmpQuery(url: string): boolean {
  const q = url.indexOf('?')
  return q !== -1 && [...new URLSearchParams(url.slice(q + 1)).keys()].some((k) => k.toLowerCase().startsWith('stmp_'))
}

/** The server's answer to a handshake URL and headers (status 200 accepts). */
export function decideHandshake(url: string, headers: Record<string, string>, policy: NegotiationPolicy): NegotiationDecision {
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '')
  const contentType = query.get('stmp_content_type') ?? 'application/json'
  const serverLatency = query.get('stmp_server_latency') === '1'
  const answer = (status: number, message: string, extra: Record<string, unknown> = {}): NegotiationDecision => ({ status, message, contentType, agreed: { serverLatency, ...extra } })
  if (looksLikeHttp(url)) {
    // A WebSocket (or plain HTTP) client on a stream listener: its request line, read as an STMP
    // handshake, would give a puzzling answer. Say what happened instead.
    return answer(400, httpOnStreamMessage(policy.scheme ?? 'tcp'), { httpOnStream: true })
  }
  const bad = checkHandshakeUrl(url)
  if (bad !== undefined) return answer(400, bad)
  if (policy.shuttingDown) return answer(503, 'shutting down')
  const version = query.get('stmp_version')
  if (version !== null && version !== '3') return answer(400, `unsupported stmp_version ${version} (this server speaks 3)`)
  if (!(policy.contentTypes ?? CONTENT_TYPES).includes(contentType)) {
    return answer(400, `unsupported stmp_content_type ${contentType}`)
  }
  if (policy.token !== undefined) {
    const auth = Object.entries(headers).find(([k]) => k.toLowerCase() === 'authorization')?.[1]
    if (auth === undefined) return answer(401, 'missing credentials: send Authorization: Bearer <token>')
    if (auth !== `Bearer ${policy.token}`) return answer(401, 'bad credentials')
  }
  return answer(200, 'OK')
}

/**
 * The handshake URL is a path and a query (docs/protocol.md §10): it starts with "/",
 * is at most MAX_HANDSHAKE_URL bytes and holds no control characters. Returns why not, or
 * undefined when it is fine.
 */
export function checkHandshakeUrl(url: string): string | undefined {
  const size = Buffer.byteLength(url)
  if (size > MAX_HANDSHAKE_URL) return `handshake URL of ${size} bytes is over the ${MAX_HANDSHAKE_URL}-byte limit`
  if (!url.startsWith('/')) return `handshake URL must be a path starting with "/", not ${JSON.stringify(preview(url))}`
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(url)) return `handshake URL holds a control character: ${JSON.stringify(preview(url))}`
  return undefined
}

/**
 * An HTTP request line read as a stream handshake: LENGTH took the method's first byte ("G" of
 * "GET"), so the URL line is the rest of it, e.g. "ET /stmp HTTP/1.1\r".
 */
export function looksLikeHttp(url: string): boolean {
  return /^[A-Z]{0,15} \S+ HTTP\/\d(\.\d)?\r?$/.test(url)
}

/** What an HTTP request on a stream listener is told (and the serve log says). */
export function httpOnStreamMessage(scheme: string): string {
  const ws = scheme === 'tls' ? 'wss://' : 'ws://'
  return `an HTTP request on a ${scheme} listener: use ${ws} with a ${ws} listener (this one speaks STMP over ${scheme})`
}

function preview(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text
}
