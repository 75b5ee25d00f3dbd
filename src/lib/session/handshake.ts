/**
 * The server's answer to a handshake, the same for a stream's STMP handshake frame and a
 * WebSocket upgrade (wire notes §8): version, content type, credentials, shutting down.
 */

export const CONTENT_TYPES = ['application/json', 'application/msgpack', 'application/protobuf', 'text/plain', 'application/octet-stream'] as const

export interface HandshakePolicy {
  /** `--token`: clients must send `Authorization: Bearer TOKEN`. */
  token?: string
  shuttingDown?: boolean
  contentTypes?: readonly string[]
}

export interface HandshakeDecision {
  status: number
  message: string
  contentType: string
  serverLatency: boolean
}

export function decideHandshake(url: string, headers: Record<string, string>, policy: HandshakePolicy): HandshakeDecision {
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '')
  const contentType = query.get('stmp_content_type') ?? 'application/json'
  const serverLatency = query.get('stmp_server_latency') === '1'
  const answer = (status: number, message: string) => ({ status, message, contentType, serverLatency })
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
