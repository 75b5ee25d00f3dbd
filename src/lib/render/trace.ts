import type * as Http from 'node:http'
import type { ChalkInstance } from 'chalk'
import type { AnyFrame } from '../codec/index.js'
import type { TraceFrame } from '../dialects/types.js'
import type { PayloadCodec } from '../payload/index.js'
import type { Session } from '../session/index.js'
import { lazyRequire } from '../lazy.js'
import { payloadSummary } from './payload-output.js'

// node:http only for its status texts, loaded when one is printed (docs/startup.md).
const http = lazyRequire<typeof Http>('node:http', import.meta.url)

/**
 * The `-v` trace, curl style, on stderr: `*` lines say what happens, `>` lines are what this
 * side sent, `<` lines what it received; one header line per frame, then its payload (indented)
 * when there is one. Reused by every client command (fetch, push, connect): call
 * `traceSession(session, options)` from ConnectOptions.prepare, before the handshake.
 *
 *   * connected to tcp://127.0.0.1:5000 (127.0.0.1:5000)
 *   > handshake /?stmp_version=3
 *   > authorization: Bearer <redacted>
 *   < handshake 200 OK
 *   > request id=1 test.echo (7 bytes)
 *   >   {"a":1}
 *   < response id=1 200 OK latency=0ms (7 bytes)
 *   <   {"a":1}
 *
 * Credentials are redacted: a trace is often pasted into a bug report.
 */

export interface TraceOptions {
  /** Where lines go (default: stderr). */
  write?: (line: string) => void
  chalk: ChalkInstance
  /** Decodes payloads for display (msgpack, protobuf shown as JSON); bytes are previewed without it. */
  codec?: PayloadCodec
  /** Columns for a payload line (default 200). */
  width?: number
}

const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie'])

/** A header value safe to print: credentials become `<redacted>` (the scheme word is kept). */
export function redactHeader(key: string, value: string): string {
  if (!SECRET_HEADERS.has(key.toLowerCase())) return value
  const space = value.indexOf(' ')
  return space > 0 ? `${value.slice(0, space)} <redacted>` : '<redacted>'
}

/**
 * A handshake URL safe to print: query parameters named like a credential header (stmp-go puts
 * `Authorization` in the WebSocket upgrade's query) redacted as headers are.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const params = new URLSearchParams(url.slice(q + 1))
  let secret = false
  for (const [k, v] of params) {
    if (!SECRET_HEADERS.has(k.toLowerCase())) continue
    secret = true
    params.set(k, redactHeader(k, v))
  }
  return secret ? `${url.slice(0, q)}?${params.toString()}` : url
}

/** Header map with credentials redacted (for -v and --json envelopes). */
export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, redactHeader(k, v)]))
}

export function statusText(status: number): string {
  return `${status} ${http.STATUS_CODES[status] ?? ''}`.trimEnd()
}

/** Tracer for one session: keeps request actions by id so responses decode by their action. */
export class FrameTracer {
  private readonly write: (line: string) => void
  private readonly sent = new Map<number, string>()
  private readonly received = new Map<number, string>()

  constructor(private readonly options: TraceOptions) {
    this.write = options.write ?? ((line) => process.stderr.write(`${line}\n`))
  }

  info(text: string): void {
    this.write(this.options.chalk.dim(`* ${text}`))
  }

  /** The lines for one frame (without writing them). */
  lines(direction: 'in' | 'out', traced: TraceFrame | AnyFrame): string[] {
    const frame = traced as AnyFrame
    const mark = direction === 'out' ? '>' : '<'
    const head = (text: string) => `${mark} ${this.options.chalk.bold(text)}`
    const out: string[] = []
    const body = (bytes: Buffer, action: string, role: 'request' | 'response' | 'push', status?: number) => {
      if (!this.options.codec && bytes.length === 0) return
      const summary = this.options.codec
        ? payloadSummary(this.options.codec, bytes, { action, role, status }, this.options.width ?? 200)
        : bytes.length > 0 ? `${bytes.length} bytes` : ''
      for (const line of summary.split('\n')) if (line !== '') out.push(`${mark}   ${line}`)
    }
    // A dialect's headers on a message (stmp-go packet headers): one `k: v` line each.
    const packetHeaders = (f: TraceFrame) => {
      const h = (f as { headers?: unknown }).headers
      if (h === null || typeof h !== 'object') return
      for (const [k, v] of Object.entries(h as Record<string, unknown>)) out.push(`${mark} ${k}: ${redactHeader(k, String(v))}`)
    }
    switch (frame.kind) {
      case 'handshake-request':
        out.push(head(`handshake ${frame.url}`))
        for (const [k, v] of Object.entries(frame.headers)) out.push(`${mark} ${k}: ${redactHeader(k, v)}`)
        break
      case 'handshake-response':
        out.push(head(`handshake ${frame.status} ${frame.message}`))
        break
      case 'ping':
        out.push(head(`ping id=${frame.id}`))
        break
      case 'close':
        out.push(head(`close ${frame.status}${frame.message ? ` ${frame.message}` : ''}`))
        break
      case 'request':
      case 'push': {
        const ids = direction === 'out' ? this.sent : this.received
        const action = frame.action ?? ids.get(frame.id) ?? '?'
        if (frame.kind === 'request' && frame.action !== undefined) ids.set(frame.id, frame.action)
        const part = frame.follow ? ' (continued)' : ''
        out.push(head(`${frame.kind} id=${frame.id} ${action}${part} (${frame.payload.length} bytes)`))
        packetHeaders(traced)
        if (!frame.follow) body(frame.payload, action, frame.kind)
        break
      }
      case 'response': {
        // A response answers a request that went the other way.
        const ids = direction === 'in' ? this.sent : this.received
        const action = ids.get(frame.id) ?? '?'
        if (!frame.fin) ids.delete(frame.id)
        if (frame.follow) {
          out.push(head(`response id=${frame.id} (continued, ${frame.payload.length} bytes)`))
          break
        }
        const latency = frame.latency === null || frame.latency === undefined ? '' : ` latency=${frame.latency}ms`
        out.push(head(`response id=${frame.id} ${statusText(frame.status ?? 0)}${latency} (${frame.payload.length} bytes)`))
        packetHeaders(traced)
        body(frame.payload, action, 'response', frame.status)
        break
      }
      default:
        // A dialect's own kind (pong, ack, room join, ...): its name and fields.
        out.push(head(describeFrame(traced)))
    }
    return out
  }

  /** The WebSocket upgrade, which stands in for the handshake frames there (wire notes §8). */
  upgrade(url: string, headers: Record<string, string>): void {
    this.write(`> ${this.options.chalk.bold(`GET ${redactUrl(url)} (WebSocket upgrade)`)}`)
    for (const [k, v] of Object.entries(headers)) this.write(`> ${k}: ${redactHeader(k, v)}`)
    this.write(`< ${this.options.chalk.bold('101 Switching Protocols')}`)
  }

  frame(direction: 'in' | 'out', frame: TraceFrame | AnyFrame): void {
    for (const line of this.lines(direction, frame)) this.write(line)
  }
}

/**
 * Hooks a tracer to a session from ConnectOptions.prepare: the connection, the WebSocket
 * upgrade and every frame.
 */
export function traceSession(session: Session, options: TraceOptions, target?: string): FrameTracer {
  const tracer = new FrameTracer(options)
  const transport = session.transport
  tracer.info(`connected to ${target ?? transport.remote} (${transport.remote}, ${transport.framing === 'stream' ? 'stream' : 'WebSocket'})`)
  if (transport.framing === 'websocket') {
    // connect() calls prepare before it records the upgrade's URL and headers: print them
    // when the session opens (accept), before any frame.
    const previous = session.onOpen
    session.onOpen = () => {
      tracer.upgrade(session.sentHandshake.url, session.sentHandshake.headers)
      previous?.()
    }
    // The peer's WebSocket close frame replaces its STMP Close (wire notes §6).
    void session.closed.then((info) => {
      if (info.remoteCode !== undefined) tracer.frame('in', { kind: 'close', status: info.remoteCode, message: info.initiator === 'remote' ? info.message : '' })
    })
  }
  session.onTrace = (direction, frame) => tracer.frame(direction, frame)
  return tracer
}

/** A frame of a kind this renderer does not know: `kind k=v ...`, bytes as their size. */
export function describeFrame(frame: TraceFrame): string {
  const parts = [frame.kind]
  for (const [k, v] of Object.entries(frame)) {
    if (k === 'kind' || v === undefined) continue
    if (Buffer.isBuffer(v)) parts.push(`(${v.length} bytes)`)
    else parts.push(`${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
  }
  return parts.join(' ')
}
