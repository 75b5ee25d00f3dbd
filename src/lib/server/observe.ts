import type { ChalkInstance } from 'chalk'
import type { AnyFrame } from '../codec/index.js'
import type { TraceFrame } from '../dialects/types.js'
import { toJsonSafe } from '../payload/index.js'
import { redactHeaders, redactUrl } from '../render/trace.js'
import { type CloseInfo, HTTP_ON_STREAM, type Session } from '../session/index.js'
import { isSuccess, type PayloadValues } from './values.js'

/**
 * What `serve` tells people and scripts. Machine mode (`--json` or `--log`): NDJSON objects on
 * stdout, every one with `time` (ISO) and `event` ("open", "close", "frame", "stats", "error").
 * Otherwise one human line per connection open and close, and errors, on stderr.
 */
export interface Reporter {
  machine: boolean
  json(object: Record<string, unknown>): void
  human(line: string): void
  chalk: ChalkInstance
}

export function event(name: string, fields: Record<string, unknown>): Record<string, unknown> {
  return { time: new Date().toISOString(), event: name, ...fields }
}

export function reportOpen(r: Reporter, session: Session): void {
  if (r.machine) {
    r.json(event('open', {
      connection: session.id, remote: session.transport.remote, transport: session.transport.framing,
      // The same redaction as fetch -v: a log is often pasted into a bug report.
      url: redactUrl(session.url), headers: redactHeaders(session.headers), contentType: session.contentType,
    }))
  } else {
    r.human(`#${session.id} open ${session.transport.remote} ${redactUrl(session.url)} ${session.contentType}`)
  }
}

export function reportClose(r: Reporter, session: Session, info: CloseInfo): void {
  if (r.machine) {
    const out: Record<string, unknown> = { connection: session.id, code: info.code, message: info.message, initiator: info.initiator }
    if (info.error) out.error = info.error.toJSON()
    if (info.unsent > 0) out.unsent = info.unsent
    r.json(event('close', out))
  } else {
    // The error once: a protocol error's Close message already says it ("TOO_LARGE at byte 17:
    // ..."), and after an HTTP request on a stream listener the rest of its bytes are no news.
    const error = info.error
    const said = error !== undefined && (info.message.includes(error.message) || session.data.get(HTTP_ON_STREAM) === true)
    const why = (error && !said ? ` ${r.chalk.red(`${error.code}: ${error.message}`)}` : '')
      + (info.unsent > 0 ? ` ${r.chalk.red(`${info.unsent} bytes not sent`)}` : '')
    r.human(`#${session.id} closed ${info.code}${info.message ? ` ${info.message}` : ''} (${info.initiator})${why}`)
  }
}

export function reportError(r: Reporter, where: string, error: { code: string; message: string; toJSON?(): Record<string, unknown> }, fields: Record<string, unknown> = {}): void {
  r.human(r.chalk.red(`${where}: ${error.code}: ${error.message}`))
  if (r.machine) r.json(event('error', { ...fields, error: error.toJSON?.() ?? { code: error.code, message: error.message } }))
}

/** `--log`: every frame of a connection as an NDJSON line, payloads decoded when possible. */
export function traceFrames(r: Reporter, session: Session, values: PayloadValues): void {
  // Actions of requests waiting for their response, per direction, to decode the response.
  const actions = { in: new Map<number, string>(), out: new Map<number, string>() }
  session.onTrace = (direction, frame) => {
    r.json(event('frame', { connection: session.id, direction, ...frameFields(frame, session, values, direction, actions) }))
  }
}

function frameFields(
  traced: TraceFrame, session: Session, values: PayloadValues, direction: 'in' | 'out',
  actions: { in: Map<number, string>; out: Map<number, string> },
): Record<string, unknown> {
  const frame = traced as AnyFrame
  switch (frame.kind) {
    case 'handshake-request':
      return { kind: frame.kind, url: frame.url, headers: redactHeaders(frame.headers) }
    case 'handshake-response':
    case 'close':
      return { kind: frame.kind, status: frame.status, message: frame.message }
    case 'ping':
      return { kind: frame.kind, id: frame.id }
    case 'request':
    case 'push':
    case 'response':
      break
    default:
      // A dialect's own kind (pong, ack, room join, ...): its fields, bytes as hex.
      return Object.fromEntries(Object.entries(traced).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('hex') : v]))
  }
  const out: Record<string, unknown> = { kind: frame.kind, id: frame.id }
  if (frame.follow || frame.fin) {
    // One fragment of a larger message (wire notes §7): its bytes only.
    out.follow = frame.follow
    out.fin = frame.fin
    out.size = frame.payload.length
    return out
  }
  let action: string | undefined
  let status: number | undefined
  if (frame.kind === 'response') {
    // A response going out answers a request that came in, and the other way round.
    const pending = direction === 'out' ? actions.in : actions.out
    action = pending.get(frame.id)
    pending.delete(frame.id)
    status = frame.status
    out.status = status
    if (frame.latency !== undefined && frame.latency !== null) out.latency = frame.latency
    if (action !== undefined) out.action = action
  } else {
    action = frame.action as string
    out.action = action
    if (frame.kind === 'request') actions[direction].set(frame.id, action)
  }
  out.size = frame.payload.length
  if (frame.payload.length > 0) {
    try {
      if (status !== undefined && !isSuccess(status)) out.message = frame.payload.toString('utf8')
      else if (action !== undefined) out.payload = toJsonSafe(values.decode(session, frame.payload, action, frame.kind === 'response' ? 'response' : frame.kind))
      else out.payloadHex = frame.payload.toString('hex')
    } catch {
      out.payloadHex = frame.payload.toString('hex')
    }
  }
  // A dialect's own fields on these kinds (Stocking's ccode, Sockhop's type and uuid, stmp-go's headers): kept.
  for (const [k, v] of Object.entries(traced)) {
    if (CORE_FIELDS.has(k) || v === undefined) continue
    out[k] = Buffer.isBuffer(v) ? v.toString('hex') : v
  }
  return out
}

/** The fields of STMP v3's request, push and response frames, which frameFields writes itself. */
const CORE_FIELDS = new Set(['kind', 'id', 'action', 'status', 'latency', 'payload', 'follow', 'fin'])

/** `--stats`: one connection's counters, as NDJSON or a human line. */
export function reportStats(r: Reporter, session: Session, final: boolean): void {
  const s = session.stats
  const fields = {
    connection: session.id, remote: session.transport.remote, final,
    rtt: s.rtt === null ? null : Math.round(s.rtt * 1000) / 1000,
    bytesIn: s.bytesIn, bytesOut: s.bytesOut,
    requestsIn: s.requestsIn, responsesOut: s.responsesOut, requestsOut: s.requestsOut, responsesIn: s.responsesIn,
    pushesIn: s.pushesIn, pushesOut: s.pushesOut,
    uptime: Date.now() - s.openedAt,
  }
  // The dialect's own figures (CAMP: ackTimeouts, ackRtt, ...) after the common ones, under their names.
  const own = session.dialectStats()
  if (r.machine) {
    r.json(event('stats', { ...fields, ...own }))
    return
  }
  const rtt = fields.rtt === null ? 'rtt -' : `rtt ${fields.rtt.toFixed(2)} ms`
  r.human(`#${session.id} ${final ? 'final stats' : 'stats'}: ${rtt}, in ${bytes(s.bytesIn)}, out ${bytes(s.bytesOut)}, `
    + `requests ${s.requestsIn} in / ${s.requestsOut} out, pushes ${s.pushesIn} in / ${s.pushesOut} out, up ${(fields.uptime / 1000).toFixed(1)} s`
    + Object.entries(own).map(([k, v]) => `, ${k} ${v === null ? '-' : v}`).join(''))
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}
