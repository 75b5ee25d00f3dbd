import { isUtf8 } from 'node:buffer'
import type { CaptureDecoder as DialectDecoder, DecodedFrame, Dialect } from '../dialects/types.js'
import type { ProtoRegistry } from '../payload/protobuf.js'
import type { CaptureEvent, Direction } from './types.js'

/**
 * `decode` of a capture in a dialect other than the default: every TCP connection (and every
 * WebSocket connection after its upgrade) goes to the chosen dialect's pure capture decoder, one
 * per direction (types.ts `CaptureSupport`). The dialect of a connection is the one `--dialect`
 * names, or the one `--port N=NAME` gives its port, or the one whose `sniff` is surest of its
 * first bytes each way (the upgrade request on WebSocket); `chose` says which, once per connection.
 */
export interface DialectLine {
  time: bigint
  connection: string
  direction: Direction
  dialect: string
  frame?: DecodedFrame
  error?: { code: string; message: string; offset: number }
}

export interface DialectCaptureOptions {
  /** `--dialect`: every connection in this one. */
  dialect?: Dialect
  /** `--port N=NAME`: a connection with either end on N. */
  ports?: Map<number, Dialect>
  /** Sniffed among these when neither applies. */
  candidates: readonly Dialect[]
  /** Bytes held per direction before sniffing decides anyway. */
  sniffBytes?: number
  /** `--proto`: handed to every decoder (CaptureDecoderContext.protoRegistry). */
  protoRegistry?: ProtoRegistry
}

interface Conn {
  connection: string
  dialect?: Dialect
  undecided: boolean
  framing: 'stream' | 'websocket'
  upgrade?: { url: string; headers: Record<string, string> }
  held: { direction: Direction; time: bigint; bytes: Buffer; offset: number; text: boolean }[]
  first: { client?: Buffer; server?: Buffer }
  decoders: Partial<Record<Direction, DialectDecoder>>
  /** CaptureDecoderContext.shared: one per connection. */
  shared: Record<string, unknown>
  time: bigint
}

export class DialectCaptureDecoder {
  readonly connections = new Map<number, Conn>()
  frames = 0
  errors = 0
  unknown = 0

  constructor(
    private readonly options: DialectCaptureOptions,
    private readonly out: (line: DialectLine) => void,
    private readonly chose: (connection: string, dialect: string, how: string) => void,
  ) {}

  /** A connection starts (what a `tcp-open` event does). */
  open(connId: number, connection: string): void {
    this.conn(connId, connection)
  }

  event(e: CaptureEvent): void {
    switch (e.type) {
      case 'tcp-open': this.conn(e.connId, e.connection); return
      case 'http-upgrade': {
        const c = this.conn(e.connId, e.connection)
        c.framing = 'websocket'
        c.upgrade = { url: e.url, headers: e.requestHeaders }
        return
      }
      case 'data': {
        const c = this.conn(e.connId, e.connection)
        if (c.framing === 'websocket') return
        this.feed(c, e.direction, e.time, e.bytes, e.streamOffset, false)
        return
      }
      case 'ws-message': {
        const c = this.conn(e.connId, e.connection)
        c.framing = 'websocket'
        this.feed(c, e.direction, e.time, e.payload, e.streamOffset, e.opcode === 'text')
        return
      }
      case 'ws-control': {
        // The WebSocket close frame ends a session in every WebSocket dialect: shown with its code
        // and reason (1005 "no status" when it has none, RFC 6455 7.1.5). Ping and pong are not shown.
        if (e.opcode !== 'close') return
        const c = this.connections.get(e.connId)
        if (!c?.dialect) return
        c.time = e.time
        this.frames++
        const frame: DecodedFrame = { kind: 'ws-close', code: e.code ?? 1005, reason: e.reason ?? '', offset: e.streamOffset, length: e.payload.length }
        this.out({ time: e.time, connection: c.connection, direction: e.direction, dialect: c.dialect.name, frame })
        return
      }
      case 'tcp-close': {
        const c = this.connections.get(e.connId)
        if (!c) return
        c.time = e.time
        this.decide(c, true)
        for (const d of Object.values(c.decoders)) d?.end(e.reason === 'end' ? 'end' : 'close')
        this.connections.delete(e.connId)
        return
      }
      default:
    }
  }

  /** The capture ended: connections still open end here. */
  end(): void {
    for (const c of this.connections.values()) {
      this.decide(c, true)
      for (const d of Object.values(c.decoders)) d?.end('end')
    }
    this.connections.clear()
  }

  private conn(id: number, connection: string): Conn {
    let c = this.connections.get(id)
    if (!c) {
      c = { connection, undecided: true, framing: 'stream', held: [], first: {}, decoders: {}, shared: {}, time: 0n }
      const byFlag = this.options.dialect
      const byPort = byFlag ? undefined : this.portDialect(connection)
      if (byFlag ?? byPort) {
        c.dialect = byFlag ?? byPort
        c.undecided = false
        this.chose(connection, c.dialect!.name, byFlag ? '--dialect' : '--port')
      }
      this.connections.set(id, c)
    }
    return c
  }

  private portDialect(connection: string): Dialect | undefined {
    if (!this.options.ports) return undefined
    for (const m of connection.matchAll(/:(\d+)(?=$| )/g)) {
      const d = this.options.ports.get(Number(m[1]))
      if (d) return d
    }
    return undefined
  }

  private feed(c: Conn, direction: Direction, time: bigint, bytes: Buffer, offset: number, text: boolean): void {
    c.time = time
    if (c.undecided) {
      c.held.push({ direction, time, bytes, offset, text })
      c.first[direction] = Buffer.concat([c.first[direction] ?? Buffer.alloc(0), bytes]).subarray(0, this.options.sniffBytes ?? 4096)
      const limit = this.options.sniffBytes ?? 4096
      const enough = c.framing === 'websocket' || (c.first.client !== undefined && c.first.server !== undefined) || (c.first[direction]?.length ?? 0) >= limit
      if (enough) this.decide(c, false)
      return
    }
    this.write(c, direction, time, bytes, offset, text)
  }

  private decide(c: Conn, final: boolean): void {
    if (!c.undecided) return
    let best: Dialect | undefined
    let score = 0
    for (const d of this.options.candidates) {
      const s = d.capture?.sniff({ framing: c.framing, client: c.first.client, server: c.first.server, upgrade: c.upgrade }) ?? 0
      if (s > score) { best = d; score = s }
    }
    if (score < 2 && !final) return
    c.undecided = false
    if (best === undefined) {
      this.unknown++
      c.held = []
      return
    }
    c.dialect = best
    this.chose(c.connection, best.name, 'sniffed')
    const held = c.held
    c.held = []
    for (const h of held) this.write(c, h.direction, h.time, h.bytes, h.offset, h.text)
  }

  private write(c: Conn, direction: Direction, time: bigint, bytes: Buffer, offset: number, text: boolean): void {
    if (!c.dialect?.capture) return
    let d = c.decoders[direction]
    if (!d) {
      d = c.dialect.capture.decoder({ direction, framing: c.framing, upgrade: c.upgrade, shared: c.shared, protoRegistry: this.options.protoRegistry })
      const dialect = c.dialect.name
      d.onFrame = (frame) => { this.frames++; this.out({ time: c.time, connection: c.connection, direction, dialect, frame }) }
      d.onError = (error) => { this.errors++; this.out({ time: c.time, connection: c.connection, direction, dialect, error: { code: error.code, message: error.message, offset: error.offset } }) }
      c.decoders[direction] = d
    }
    d.write(bytes, offset, text)
  }
}

/** A frame's fields for JSON: payload bytes as JSON when they are JSON, text when UTF-8 without control bytes (other than tab and line ends), else hex. */
export function frameJson(frame: DecodedFrame): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(frame)) {
    if (Buffer.isBuffer(v)) {
      // eslint-disable-next-line no-control-regex
      if (isUtf8(v) && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(v.toString('latin1'))) {
        const text = v.toString('utf8')
        try { out[k] = JSON.parse(text) } catch { out[`${k}_text`] = text }
      } else {
        out[`${k}_hex`] = v.toString('hex')
      }
    } else {
      out[k] = v
    }
  }
  return out
}

export interface DialectBytesSummary {
  frames: number
  errors: number
  errorCodes: Record<string, number>
}

/**
 * `decode --dialect NAME` of bytes that are not a capture (hex, a dump, base64, raw): one
 * direction of one connection, through the dialect's capture decoder (`stream`: the bytes in
 * order; `websocket`: the whole input is one message, `text` or binary).
 */
export function decodeDialectBytes(
  dialect: Dialect, bytes: Buffer, context: { framing: 'stream' | 'websocket'; direction: Direction; text: boolean },
  out: (line: { frame?: DecodedFrame; error?: { code: string; message: string; offset: number } }) => void,
): DialectBytesSummary {
  const summary: DialectBytesSummary = { frames: 0, errors: 0, errorCodes: {} }
  const decoder = (dialect.capture as NonNullable<Dialect['capture']>).decoder({ direction: context.direction, framing: context.framing, shared: {} })
  decoder.onFrame = (frame) => { summary.frames++; out({ frame }) }
  decoder.onError = (error) => {
    summary.errors++
    summary.errorCodes[error.code] = (summary.errorCodes[error.code] ?? 0) + 1
    out({ error: { code: error.code, message: error.message, offset: error.offset } })
  }
  decoder.write(bytes, 0, context.text)
  // The input ends where the bytes end: a frame cut there is reported as the dialect reports a FIN inside one.
  decoder.end('close')
  return summary
}
