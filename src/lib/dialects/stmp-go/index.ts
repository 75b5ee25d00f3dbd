import { StmpError } from '../../errors.js'
import type { Dialect, DialectOptions, NegotiationDecision, NegotiationPolicy, UpgradeRequest } from '../types.js'
import { capture } from './capture.js'
import { CLOSE_TABLE, STATUS_TABLE, negotiateList } from './codec.js'
import { template } from './template.js'
import { StmpGoWire } from './wire.js'

/** What stmp-go's media.go registers: protobuf, msgpack and JSON (jsoniter). */
export const CONTENT_TYPES = ['application/json', 'application/msgpack', 'application/protobuf'] as const

/**
 * Client: every handshake header goes into the target's query, as stmp-go's DialWebsocket puts
 * them there (`Accept`, `Accept-Encoding`, the `-H` headers, `Stmp-Version=1.0`); on a stream
 * the Wire takes them back out of the URL into the in-band handshake.
 */
export function clientQuery(options: DialectOptions, given: URLSearchParams): UpgradeRequest {
  const query: Record<string, string> = {}
  const contentType = options.contentType ?? given.get('Accept') ?? 'application/json'
  if (!(CONTENT_TYPES as readonly string[]).includes(contentType)) {
    throw new StmpError('BAD_FLAG', `stmp-go carries ${CONTENT_TYPES.join(', ')}, not ${contentType}`)
  }
  if (!given.has('Accept')) query.Accept = contentType
  checkOptions(options)
  if (gzipOn(options.gzip)) query['Accept-Encoding'] = 'gzip'
  if (options.format === 'text') {
    // The real client sends Accept-Packet-Format, which the real server does not read (conn.go
    // negotiate reads Packet-Format): both, so that a real server does switch to text.
    query['Accept-Packet-Format'] = 'text'
    query['Packet-Format'] = 'text'
  }
  for (const [k, v] of Object.entries(options.headers ?? {})) query[k] = v
  if (options.token !== undefined) query.Authorization = `Bearer ${options.token}`
  if (!given.has('Stmp-Version')) query['Stmp-Version'] = '1.0'
  return { query, headers: {} }
}

function gzipOn(v: unknown): boolean {
  return v === true || v === '1' || v === 'true' || v === 'gzip'
}

/** -O values (both sides, before anything is dialled or bound): BAD_FLAG for one that cannot be used. */
export function checkOptions(options: DialectOptions): void {
  const gzip = options.gzip
  if (gzip !== undefined && !gzipOn(gzip) && gzip !== false && gzip !== '0' && gzip !== 'false') throw new StmpError('BAD_FLAG', `-O gzip=${String(gzip)}: 1 or 0`)
  const max = options['max-packet']
  if (max !== undefined && !(typeof max === 'string' && /^[1-9]\d{0,15}$/.test(max)) && !(typeof max === 'number' && Number.isInteger(max) && max > 0)) {
    throw new StmpError('BAD_FLAG', `-O max-packet=${String(max)}: a size in bytes (default 16777216, stmp-go's 16 MiB)`)
  }
  const ph = options['packet-header']
  if (ph !== undefined && (typeof ph !== 'string' || ph.split(';').some((kv) => kv.indexOf(':') <= 0))) {
    throw new StmpError('BAD_FLAG', `-O packet-header=${String(ph)}: K:V pairs separated by ";" (e.g. -O packet-header='X-A:1;X-B:2')`)
  }
}

/**
 * Server: Server.prepare and Conn.negotiate. The client's headers are the upgrade's query and
 * HTTP headers (WebSocket), or its handshake's headers plus `Stmp-Version` (streams).
 */
export function decide(request: { url: string; headers: Record<string, string> }, policy: NegotiationPolicy): NegotiationDecision {
  const q = request.url.indexOf('?')
  const header = new Map<string, string>()
  for (const [k, v] of Object.entries(request.headers)) header.set(k.toLowerCase(), v)
  if (q !== -1) for (const [k, v] of new URLSearchParams(request.url.slice(q + 1))) header.set(k.toLowerCase(), v)
  const get = (k: string) => header.get(k.toLowerCase())
  const accepted = policy.contentTypes ?? CONTENT_TYPES
  const contentType = negotiateList(get('Accept')).find((t) => (CONTENT_TYPES as readonly string[]).includes(t) && accepted.includes(t))
  const gzip = negotiateList(get('Accept-Encoding')).includes('gzip')
  const packetFormat = get('Packet-Format')
  const agreed = { gzip, ...(packetFormat ? { packetFormat } : {}) }
  const answer = (status: number, message: string): NegotiationDecision => ({ status, message, contentType, agreed })
  if (policy.shuttingDown) return answer(503, 'ServerShutdown')
  const version = get('Stmp-Version')
  if (version === undefined || !/^[0-9A-Fa-f]\.[0-9A-Fa-f]$/.test(version)) return answer(422, `invalid protocol version: ${version ?? ''}`)
  if (version !== '1.0') return answer(400, `unsupported protocol version: ${version}`)
  if (contentType === undefined) return answer(400, `no supported content-type in candidates: ${get('Accept') ?? ''}`)
  if (policy.token !== undefined) {
    const auth = get('Authorization')
    if (auth === undefined) return answer(401, 'missing credentials: send -H Authorization:Bearer <token> (or --token)')
    if (auth !== `Bearer ${policy.token}`) return answer(401, 'bad credentials')
  }
  return answer(200, 'OK')
}

/** stmp-go 1.0 (github.com/acrazing/stmp-go; wire notes §1, docs/dialects/stmp-go.md). */
export const dialect: Dialect = {
  name: 'stmp-go',
  refusesInBand: true,
  title: 'stmp-go 1.0',
  summary: 'acrazing/stmp-go (Go): in-band STMP handshake with headers, 1-byte head packets, u16 LE mids, uvarint actions from .proto services, Pong, headers on packets, gzip, WebSocket binary and text',
  schemes: ['tcp', 'tls', 'unix', 'ws', 'wss'],
  features: {
    requests: true, pushes: true, ping: true, headers: true, rooms: false, acks: false,
    transactions: false, typedBuffers: false, fragmentation: false, textFormat: true,
  },
  flags: ['format', 'token', 'header', 'gzip', 'packet-header', 'max-packet'],
  idSpace: 0xffff,
  statuses: [
    ...STATUS_TABLE.map((s) => ({ wire: `0x${s.wire.toString(16).padStart(2, '0')}`, status: s.status, name: s.name })),
    { wire: 'other 0x01-0x1f', status: 520, name: 'Unknown' },
    { wire: 'other 0x20-0x3f', status: 400, name: 'BadRequest' },
    { wire: 'other 0x40-0xff', status: 500, name: 'InternalServerError' },
    ...CLOSE_TABLE.map((c) => ({ wire: `Close 0x${c.wire.toString(16).padStart(2, '0')}`, status: c.code, name: `close code (${STATUS_TABLE.find((s) => s.wire === c.wire)?.name ?? ''})` })),
  ],
  contentTypes: [...CONTENT_TYPES],
  open: (context) => new StmpGoWire(context),
  upgrade: clientQuery,
  decideUpgrade: decide,
  checkOptions,
  capture,
  template,
}
