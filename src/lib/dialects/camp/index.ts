import { randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { StmpError } from '../../errors.js'
import type { Dialect, DialectOptions, NegotiationDecision, NegotiationPolicy, UpgradeRequest } from '../types.js'
import { BACKPRESSURE_FLAGS, backpressureOptions } from './backpressure.js'
import { capture } from './capture.js'
import { newSid, parseSid } from './codec.js'
import { CampWire, liveSids } from './wire.js'

/**
 * CAMP, the Cryo Application Messaging Protocol (Ranchonyx/CAMP-Protocol 1.1.4, CAMP-Server
 * 1.0.7): binary frames over WebSocket with token authentication in the upgrade, per-frame
 * acknowledgements, heartbeats and streamed transactions (wire notes §4, docs/dialects/camp.md).
 */
export const dialect: Dialect = {
  name: 'camp',
  title: 'CAMP',
  summary: 'Ranchonyx CAMP (Node, WebSocket): binary frames with a client-chosen sid, ACK per frame, PING_PONG, UTF8/BINARY data, BYE, transactions; bearer token in the upgrade',
  schemes: ['ws', 'wss'],
  features: {
    requests: true, pushes: true, ping: true, headers: false, rooms: false, acks: true,
    transactions: true, typedBuffers: false, fragmentation: false, textFormat: false,
  },
  flags: ['token', 'sid', 'ack-timeout', 'save-dir', 'pull-file', 'pull', ...BACKPRESSURE_FLAGS],
  idSpace: 0xffff,
  statuses: [
    { wire: 'ACK of the data frame', status: 200, name: 'received (CAMP has no answers: the ACK is the response)' },
    { wire: 'no ACK within ack-timeout', status: 504, name: 'unacknowledged (CAMP-Server\'s stat-ack-timeout)' },
    { wire: 'ERROR frame', status: 500, name: 'what a stmpcat server sends for a non-2xx handler answer (a client reports it as the event error)' },
  ],
  contentTypes: ['application/json', 'text/plain', 'application/octet-stream', 'application/msgpack', 'application/protobuf'],
  open: (context) => new CampWire(context),
  checkOptions: (options) => { checkCampOptions(options) },
  upgrade: campUpgrade,
  decideUpgrade: decideCampUpgrade,
  capture,
}

/**
 * The client's upgrade: `authorization=Bearer <token>` and `x-CAMP-sid=<decimal u64>` in the
 * query (the address's own values win), subprotocol `camp`. The sid is `-O sid=N`, else random.
 */
export function campUpgrade(options: DialectOptions, query: URLSearchParams): UpgradeRequest {
  const out: Record<string, string> = {}
  if (!query.has('authorization')) out.authorization = `Bearer ${options.token ?? ''}`
  checkCampOptions(options)
  if (options.sid !== undefined) {
    out['x-CAMP-sid'] = String(options.sid)
  } else if (parseSid(query.get('x-CAMP-sid')) === undefined) {
    out['x-CAMP-sid'] = newSid(randomBytes).toString()
  }
  return { query: out, protocols: ['camp'], headers: options.headers }
}

/**
 * The server's check, as CAMP-Server's HTTPUpgradeCallback does it: `authorization` present and
 * starting with `Bearer`, `x-CAMP-sid` present (a decimal u64 here), the token (after `Bearer `)
 * equal to serve's --token when one is set. Any failure is 401, as the real server answers.
 */
export function decideCampUpgrade(request: { url: string }, policy: NegotiationPolicy): NegotiationDecision {
  if (policy.shuttingDown) return { status: 503, message: 'shutting down' }
  const query = new URLSearchParams(request.url.split('?')[1] ?? '')
  const authorization = query.get('authorization')
  if (authorization === null) return { status: 401, message: 'Upgrade request refused: no auth data supplied (query authorization=Bearer <token>)' }
  if (!authorization.startsWith('Bearer')) return { status: 401, message: 'Upgrade request refused: incorrect type of auth data supplied (authorization is Bearer <token>)' }
  const sidText = query.get('x-CAMP-sid')
  if (sidText === null) return { status: 401, message: 'Upgrade request refused: no SID supplied (query x-CAMP-sid)' }
  const sid = parseSid(sidText)
  if (sid === undefined) return { status: 401, message: `Upgrade request refused: x-CAMP-sid ${JSON.stringify(sidText.slice(0, 40))} is not a decimal unsigned 64-bit integer` }
  if (liveSids.has(sid)) return { status: 401, message: `Upgrade request refused: the session ${sid} already exists` }
  if (policy.token !== undefined && authorization.slice(7) !== policy.token) return { status: 401, message: 'Upgrade request refused: invalid bearer token in authorization query' }
  return { status: 200, message: 'OK', agreed: { sid: sid.toString() } }
}

/** `-O ack-timeout`, `-O sid` and the backpressure options (BAD_FLAG on a bad value). */
export function checkCampOptions(options: DialectOptions): void {
  if (options['ack-timeout'] !== undefined) {
    const t = Number(options['ack-timeout'])
    if (!Number.isInteger(t) || t < 1) throw new StmpError('BAD_FLAG', `-O ack-timeout=${String(options['ack-timeout'])}: expected milliseconds, an integer of at least 1`)
  }
  if (options.sid !== undefined && parseSid(String(options.sid)) === undefined) {
    throw new StmpError('BAD_FLAG', `-O sid=${String(options.sid)}: a CAMP session id is a decimal unsigned 64-bit integer`)
  }
  const saveDir = options['save-dir']
  if (saveDir !== undefined && !isKind(String(saveDir), 'directory')) throw new StmpError('BAD_FLAG', `--save-dir ${String(saveDir)}: not a directory`)
  const pullFile = options['pull-file']
  if (pullFile !== undefined && !isKind(String(pullFile), 'file')) throw new StmpError('BAD_FLAG', `-O pull-file=${String(pullFile)}: not a regular file`)
  if (options.pull !== undefined && options.pull !== 'echo') throw new StmpError('BAD_FLAG', `-O pull=${String(options.pull)}: the one value is echo (offer each push transaction back as a pull one)`)
  backpressureOptions(options)
}

function isKind(path: string, kind: 'file' | 'directory'): boolean {
  try {
    const s = statSync(path)
    return kind === 'file' ? s.isFile() : s.isDirectory()
  } catch {
    return false
  }
}
