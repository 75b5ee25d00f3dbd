/**
 * STMP on top of the capture pipeline (decoder.ts): capture events in, STMP frames, protocol
 * errors, gaps and undecodable ranges out, each with its connection, direction and time. No I/O,
 * no rendering: `decode-capture.ts` drives it from a file and `src/lib/render/capture-*.ts` print.
 *
 * Stream transports (wire notes §1, §8): the client's first frame is the handshake; its URL gives
 * the content type and `stmp_server_latency`, which apply to both directions; the server's first
 * frame is its answer. WebSocket: the HTTP upgrade carries the URL; each message is one frame,
 * binary or text by its opcode.
 *
 * Which connections are STMP: those on `ports` when given, else those whose first client bytes
 * read as a handshake (LENGTH, then a URL starting with `/`) or that are a WebSocket upgrade.
 * Others are counted and skipped.
 *
 * A gap (missing TCP segment) on a stream: LENGTH-prefixed framing has no marker to find a frame
 * by, so decoding resumes after a gap only when the gap ended inside a frame whose LENGTH and head
 * came before it (StreamDecoder#gap): that frame is reported undecodable, and the frames after it
 * are decoded. Otherwise the rest of that direction is reported as undecodable, never guessed.
 * The other direction goes on either way.
 */
import {
  DEFAULT_LIMITS, Reassembler, StmpProtocolError, StreamDecoder, decodeMessage, KIND_CODE,
  newFrameHead, looksLikeHandshake, type AnyFrame, type Format, type FrameHead, type LostFrame, type MessageFrame, type MessageHeadBits,
} from '../codec/index.js'
import { StmpError } from '../errors.js'
import { codecName, ProtobufCodec, ProtoRegistry, type PayloadCodecName } from '../payload/index.js'
import type { Dialect } from '../dialects/types.js'
import { DialectCaptureDecoder, type DialectLine } from './dialect.js'
import { IpProtocol } from './ip.js'
import type { CaptureEvent, DataEvent, Direction, HttpUpgradeEvent, WsControlEvent, WsMessageEvent, WsUndecodableEvent } from './types.js'

export type CaptureTransport = 'stream' | 'websocket'
/** The frame's format; `http` for the WebSocket upgrade request and answer, `control` for a WebSocket close frame. */
export type CaptureFormat = Format | 'http' | 'control'

/** What every frame line carries besides the frame itself. */
export interface CaptureFrameMeta {
  /** Stream offset of the frame's LENGTH byte (stream) or of the WebSocket message's first frame header. */
  offset: number
  /** Frame size, LENGTH included (stream), or the WebSocket message size; with --messages the fragments' sum. */
  length: number
  /** Capture time of the packet that completed the frame, ns since the epoch. */
  time: bigint
  connection: string
  connId: number
  direction: Direction
  transport: CaptureTransport
  /** `binary` / `text`; `http` for a WebSocket connection's upgrade request and answer. */
  format: CaptureFormat
  /** The connection's content type (payload codec), when known. */
  codec: PayloadCodecName | undefined
  /** With --messages: frames the message was joined from (only when more than one). */
  fragments?: number
  /** A protobuf payload decoded with the --proto files, as JSON text; the renderers take it as the payload. */
  payloadJson?: string
}

export interface CaptureFrameEvent extends CaptureFrameMeta {
  type: 'frame'
  frame: AnyFrame
}

/**
 * A Request, Push or Response on a stream as a FrameHead over the bytes it was decoded from, for a
 * sink that only copies bytes out (`decode --json` of a large capture: no object per frame). The
 * event, its head and its bytes are reused: valid only during the call.
 */
export interface CaptureHeadEvent extends CaptureFrameMeta {
  type: 'head'
  head: FrameHead
  bytes: Buffer
}

export type CaptureHeadSink = (event: CaptureHeadEvent) => void

export interface CaptureErrorOut {
  type: 'error'
  code: string
  message: string
  offset?: number
  connection?: string
  direction?: Direction
  time?: bigint
}

export interface CaptureGapOut {
  type: 'gap'
  connection: string
  direction: Direction
  /** Stream offset of the first missing byte. */
  offset: number
  /** Missing bytes. */
  bytes: number
  time: bigint
}

/**
 * Bytes of a direction not decoded because of a gap. After a gap that the framing cannot cross:
 * the rest of the direction, from the first byte not decoded (`lost` absent). After one it can
 * cross (the gap ended inside a frame whose LENGTH was seen): that frame (`lost: 'frame'`, with
 * its kind and id when it was a message frame); with --messages also the frames before it of the
 * fragmented message it belonged to, which cannot be joined (`lost: 'message'`). The capture
 * ending while a connection was open (a gap at its end): the frame it cut (`lost: 'end'`, the
 * bytes the capture holds of it, `missing` the bytes its LENGTH says were still to come) and, with
 * --messages, the fragments so far of a message it cut (`lost: 'end'`, `fragments`). A FIN or
 * RST while --messages holds fragments of an unfinished message: those (`lost: 'close'`).
 */
export interface CaptureUndecodableOut {
  type: 'undecodable'
  connection: string
  direction: Direction
  offset: number
  bytes: number
  lost?: 'frame' | 'message' | 'end' | 'close'
  kind?: MessageHeadBits['kind']
  id?: number
  /** `lost: 'end'`, a frame: the bytes of it that the capture does not hold, when its LENGTH was in. */
  missing?: number
  /** `lost: 'end'` or `'close'`, a message (--messages): its fragments in the capture. */
  fragments?: number
  time: bigint
}

/**
 * An IP fragment carrying TCP. Fragments are not reassembled (a guess at which belong together is
 * a guess), so the TCP segment they carry is missing: its connection shows a gap there.
 */
export interface CaptureIpFragmentOut {
  type: 'ip-fragment'
  /** The addresses of the IP header (a fragment after the first has no ports). */
  src: string
  dst: string
  /** IPv4 Identification, or the IPv6 fragment header's. */
  id: number
  /** Where this fragment's bytes start in the datagram's payload, and whether more follow. */
  offset: number
  more: boolean
  bytes: number
  /** The packet's index in the capture, from 1 as Wireshark counts. */
  packet: number
  time: bigint
}

/**
 * A frame or an error of a connection read in another dialect than STMP v3 (`decode` with no
 * --dialect sniffs each connection: see CaptureStmpOptions.dialects): its dialect's own fields.
 */
export interface CaptureDialectOut extends DialectLine {
  type: 'dialect'
}

export type CaptureOutEvent = CaptureFrameEvent | CaptureErrorOut | CaptureGapOut | CaptureUndecodableOut | CaptureIpFragmentOut | CaptureDialectOut
export type CaptureSink = (event: CaptureOutEvent) => void

export type FrameKindName = AnyFrame['kind']
export const FRAME_KINDS: readonly FrameKindName[] = ['request', 'push', 'response', 'ping', 'close', 'handshake-request', 'handshake-response']

export interface CaptureFilter {
  /** Glob on the action (`*` any run, `?` one character); a Response matches by its request's action. */
  action?: string
  kinds?: FrameKindName[]
  /** Substring of `client-ip:port -> server-ip:port`. */
  connection?: string
  /** `200`, `4xx`, ...: Response, Close and handshake-response status. */
  status?: string[]
}

export interface CaptureStmpOptions {
  /** Server (or client) ports whose connections are STMP; empty: detect. */
  ports?: number[]
  /** Join fragmented messages (wire notes §7) and print each message once. */
  messages?: boolean
  /** For connections whose handshake was not captured: Responses carry latency. */
  serverLatency?: boolean
  maxFrameSize?: number
  filter?: CaptureFilter
  /**
   * `.proto` files (and import paths) for `application/protobuf` connections: payloads decoded by
   * the message type their action names (wire notes §9). Plain paths, so worker threads can load
   * them too.
   */
  proto?: { files: string[]; importPaths?: string[] }
  /**
   * The dialects that can read captures (the registry's, STMP v3 among them), when no --dialect
   * and no --port was given: each connection is sniffed (CaptureSupport.sniff), STMP v3's take
   * this decoder's own path, the others go to their dialect's decoder (capture/dialect.ts) and
   * come out as `dialect` events. Worker threads load them again by name (not cloneable).
   */
  dialects?: readonly Dialect[]
}

export interface CaptureSummary {
  connections: number
  stmpConnections: { stream: number; websocket: number }
  skippedConnections: number
  frames: number
  framesByKind: Record<string, number>
  /** Frames printed after the filters. */
  shown: number
  errors: number
  errorCodes: Record<string, number>
  gaps: number
  gapBytes: number
  /** Frames lost in gaps that decoding resumed after (their ends known from their LENGTH). */
  lostFrames: number
  /** Frames and (--messages) fragmented messages that the end of the capture cut. */
  cutAtEnd: number
  /** IP fragments carrying TCP (not reassembled). */
  ipFragments: number
  /** Packets the capture's snap length cut short. */
  cutShortPackets: number
  /** Skipped connections that start with a TLS record (tls://, wss://): encrypted. */
  skippedTls: number
  packets: number
  skippedPackets: number
  /** Connections read in a dialect other than STMP v3 (sniffed), by dialect name. */
  dialects?: Record<string, number>
}

/** With --messages, a fragmented message whose last fragment has not come: where it started, its size and frame count so far. */
interface OpenMessage {
  offset: number
  length: number
  frames: number
  kind: MessageHeadBits['kind']
  id: number
}

interface Flow {
  direction: Direction
  decoder?: StreamDecoder
  reassembler?: Reassembler
  /** With --messages: where each open fragmented message started, its size and frame count. */
  openMessages?: Map<number, OpenMessage>
  /** After a gap: the first stream offset not decoded, and the end of what was seen. */
  lostFrom: number
  lostEnd: number
  /** --action: actions of this side's open fragmented messages and of its requests awaiting responses. */
  openActions?: Map<number, string>
  requestActions?: Map<number, string>
}

interface Conn {
  connId: number
  connection: string
  /** `foreign`: another dialect's (this.foreign decodes it); `ws-pending`: upgraded, waiting for its first message to tell. */
  mode: 'pending' | 'stream' | 'websocket' | 'skipped' | 'foreign' | 'ws-pending'
  /** ws-pending: the upgrade and the WebSocket events after it, until the first message decides. */
  wsHeld?: { upgrade: HttpUpgradeEvent; events: CaptureEvent[] }
  sawSyn: boolean
  clientPort: number
  serverPort: number
  held: DataEvent[]
  serverLatency: boolean
  codec: PayloadCodecName | undefined
  client: Flow
  server: Flow
}

/** Kinds that carry a status the `--status` filter looks at. */
function statusOf(frame: AnyFrame): number | undefined {
  if (frame.kind === 'response' || frame.kind === 'close' || frame.kind === 'handshake-response') return frame.status
  return undefined
}

/** `*` and `?` glob to a RegExp, anchored. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${body}$`, 's')
}

/** `200`, `2xx`, `4xx`: a predicate on a status. */
export function statusMatcher(specs: string[]): (status: number) => boolean {
  const tests = specs.flatMap((spec) => spec.split(',')).map((raw) => {
    const spec = raw.trim().toLowerCase()
    const cls = /^([1-9])xx$/.exec(spec)
    if (cls) {
      const base = Number(cls[1]) * 100
      return (s: number) => s >= base && s < base + 100
    }
    if (!/^\d{1,5}$/.test(spec)) throw new StmpError('BAD_FLAG', `--status: "${raw}" is not a status (200) or a class (4xx)`)
    const n = Number(spec)
    return (s: number) => s === n
  })
  return (status) => tests.some((t) => t(status))
}

/** The URL's connection options (wire notes §8): content type and server latency. */
export function urlOptions(url: string): { codec: PayloadCodecName | undefined; serverLatency: boolean } {
  const q = url.indexOf('?')
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1))
  let contentType: string | undefined
  let latency: string | undefined
  for (const [key, value] of params) {
    const k = key.toLowerCase()
    if (k === 'stmp_content_type') contentType = value
    else if (k === 'stmp_server_latency') latency = value
  }
  let codec: PayloadCodecName | undefined
  try {
    codec = codecName(contentType ?? 'application/json')
  } catch {
    codec = undefined
  }
  return { codec, serverLatency: latency === '1' }
}

/** Client bytes that start like a handshake: a valid LENGTH, then `/` (wire notes §8). */
export class CaptureStmpDecoder {
  readonly summary: CaptureSummary = {
    connections: 0, stmpConnections: { stream: 0, websocket: 0 }, skippedConnections: 0, frames: 0, framesByKind: {}, shown: 0,
    errors: 0, errorCodes: {}, gaps: 0, gapBytes: 0, lostFrames: 0, cutAtEnd: 0, ipFragments: 0, cutShortPackets: 0, skippedTls: 0, packets: 0, skippedPackets: 0,
  }
  /** The capture's fatal error (BAD_CAPTURE), if any. */
  fatal: { code: string; message: string; offset?: number } | undefined
  private readonly conns = new Map<number, Conn>()
  private readonly ports: Set<number>
  private readonly messages: boolean
  private readonly maxFrameSize: number
  private readonly serverLatency: boolean
  private readonly actionTest: RegExp | undefined
  private readonly kinds: Set<string> | undefined
  /** --proto: the codec for application/protobuf payloads. */
  private readonly protobuf: ProtobufCodec | undefined
  private readonly connectionFilter: string | undefined
  private readonly statusTest: ((status: number) => boolean) | undefined
  private readonly filtered: boolean
  /** Sniffing (no --dialect, no --port): STMP v3's CaptureSupport and the other dialects' decoder. */
  private readonly v3: Dialect | undefined
  private readonly others: readonly Dialect[] = []
  private readonly foreign: DialectCaptureDecoder | undefined
  private foreignUnknown = 0
  /** Time of the capture event being handled; frames decoded from it carry it. */
  private now = 0n
  private lastTime = 0n

  private readonly headEvent: CaptureHeadEvent = {
    type: 'head', head: newFrameHead(), bytes: Buffer.alloc(0), offset: 0, length: 0, time: 0n, connection: '', connId: 0, direction: 'client',
    transport: 'stream', format: 'binary', codec: undefined,
  }

  /**
   * `sink` gets every output event. With `heads`, Request, Push and Response frames on streams go
   * there instead, as CaptureHeadEvents, unless a filter other than --connection needs the frame.
   */
  constructor(private readonly sink: CaptureSink, options: CaptureStmpOptions = {}, private readonly heads?: CaptureHeadSink) {
    this.ports = new Set(options.ports ?? [])
    this.messages = options.messages ?? false
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_LIMITS.maxFrameSize
    this.serverLatency = options.serverLatency ?? false
    const f = options.filter ?? {}
    this.actionTest = f.action === undefined ? undefined : globToRegExp(f.action)
    this.kinds = f.kinds === undefined || f.kinds.length === 0 ? undefined : new Set(f.kinds)
    this.connectionFilter = f.connection
    this.statusTest = f.status === undefined || f.status.length === 0 ? undefined : statusMatcher(f.status)
    this.filtered = this.actionTest !== undefined || this.kinds !== undefined || this.statusTest !== undefined
    const registry = options.proto === undefined ? undefined : ProtoRegistry.load(options.proto.files, options.proto.importPaths)
    this.protobuf = registry === undefined ? undefined : new ProtobufCodec(registry)
    const dialects = options.dialects ?? []
    this.v3 = dialects.find((d) => d.name === 'stmp-v3')
    this.others = dialects.filter((d) => d !== this.v3 && d.capture !== undefined)
    if (this.others.length > 0 && this.ports.size === 0) {
      this.summary.dialects = {}
      const counts = this.summary.dialects
      this.foreign = new DialectCaptureDecoder({ candidates: this.others, protoRegistry: registry }, (line) => this.dialectLine(line), (_connection, dialect) => {
        counts[dialect] = (counts[dialect] ?? 0) + 1
      })
    }
  }

  event(event: CaptureEvent): void {
    switch (event.type) {
      case 'tcp-open': {
        this.summary.connections++
        const flow = (direction: Direction): Flow => ({ direction, lostFrom: -1, lostEnd: 0 })
        this.conns.set(event.connId, {
          connId: event.connId, connection: event.connection, mode: 'pending', sawSyn: event.sawSyn,
          clientPort: event.client.port, serverPort: event.server.port, held: [], serverLatency: this.serverLatency,
          codec: 'json', client: flow('client'), server: flow('server'),
        })
        return
      }
      case 'data': return this.data(event)
      case 'gap': return this.gap(event)
      case 'http-upgrade': return this.upgrade(event)
      case 'ws-message': return this.wsMessage(event)
      case 'ws-control': return this.wsControl(event)
      case 'ws-undecodable': return this.wsUndecodable(event)
      case 'tcp-close': return this.close(event.connId, event.time, event.reason)
      case 'error': {
        if (event.fatal) {
          this.fatal = { code: event.code, message: event.error.message, offset: event.error.offset }
          return
        }
        // A gap inside a WebSocket upgrade is reported by its gap event; the connection goes on as raw bytes.
        if (event.code === 'WS_GAP') return
        const conn = event.connId === undefined ? undefined : this.conns.get(event.connId)
        if (conn !== undefined && conn.mode !== 'stream' && conn.mode !== 'websocket') return
        this.error(event.code, event.error.message, event.error.offset, event.connection, event.direction, event.time ?? this.lastTime)
        return
      }
      case 'packet-skipped':
        this.summary.skippedPackets++
        return
      case 'ip-fragment':
        if (event.protocol !== IpProtocol.TCP) return
        this.tick(event.time)
        this.summary.ipFragments++
        this.sink({
          type: 'ip-fragment', src: event.src, dst: event.dst, id: event.id, offset: event.fragmentOffset, more: event.moreFragments,
          bytes: event.length, packet: event.packetIndex + 1, time: event.time,
        })
        return
      default:
        return
    }
  }

  /** Packets read, and how many of them the snap length cut short (the capture decoder's counts), for the summary. */
  setPackets(packets: number, cutShort = 0): void {
    this.summary.packets = packets
    this.summary.cutShortPackets = cutShort
  }

  /**
   * The capture is over: connections still open were closed by the decoder's end(); flush what is
   * left. `lastTime`: the capture's last time when this decoder saw only some connections.
   */
  end(lastTime: bigint = this.lastTime): void {
    for (const conn of [...this.conns.values()]) this.close(conn.connId, lastTime, 'end')
    if (this.foreign !== undefined) {
      this.foreign.end()
      this.countUnknown()
    }
  }

  /** Connections no dialect recognised are skipped ones. */
  private countUnknown(): void {
    const foreign = this.foreign as DialectCaptureDecoder
    this.summary.skippedConnections += foreign.unknown - this.foreignUnknown
    this.foreignUnknown = foreign.unknown
  }

  /** A line of a connection in another dialect: counted, filtered by --connection and --kind, out. */
  private dialectLine(line: DialectLine): void {
    this.tick(line.time)
    if (line.error !== undefined) {
      this.summary.errors++
      this.summary.errorCodes[line.error.code] = (this.summary.errorCodes[line.error.code] ?? 0) + 1
    } else {
      const kind = (line.frame as { kind: string }).kind
      this.summary.frames++
      this.summary.framesByKind[kind] = (this.summary.framesByKind[kind] ?? 0) + 1
      if (this.connectionFilter !== undefined && !line.connection.includes(this.connectionFilter)) return
      if (this.kinds !== undefined && !this.kinds.has(kind)) return
      if (this.actionTest !== undefined || this.statusTest !== undefined) return
      this.summary.shown++
    }
    this.sink({ type: 'dialect', ...line })
  }

  /** The connection is not STMP v3's: the other dialects' decoder gets it, and what was held. */
  private handOver(conn: Conn, upgrade?: HttpUpgradeEvent): void {
    const foreign = this.foreign as DialectCaptureDecoder
    conn.mode = 'foreign'
    foreign.open(conn.connId, conn.connection)
    if (upgrade !== undefined) foreign.event(upgrade)
    const held: CaptureEvent[] = [...conn.held, ...(conn.wsHeld?.events ?? [])]
    conn.held = []
    conn.wsHeld = undefined
    for (const e of held) foreign.event(e)
  }

  /** How sure STMP v3 and the best of the others are of a WebSocket connection, from its upgrade and first message. */
  private sniffWebSocket(upgrade: HttpUpgradeEvent, message?: WsMessageEvent): { v3: number; other: number } {
    const input = {
      framing: 'websocket' as const,
      upgrade: { url: upgrade.url, headers: upgrade.requestHeaders },
      client: message?.direction === 'client' ? message.payload : undefined,
      server: message?.direction === 'server' ? message.payload : undefined,
    }
    let other = 0
    for (const d of this.others) other = Math.max(other, d.capture?.sniff(input) ?? 0)
    return { v3: this.v3?.capture?.sniff(input) ?? 1, other }
  }

  /** A WebSocket event of a connection another dialect reads, or one still undecided: handled there. */
  private elsewhere(conn: Conn, event: CaptureEvent): boolean {
    if (conn.mode === 'foreign') {
      (this.foreign as DialectCaptureDecoder).event(event)
      return true
    }
    if (conn.mode === 'ws-pending') {
      this.holdWebSocket(conn, event)
      return true
    }
    return false
  }

  /** ws-pending ends: STMP v3 (`v3`) or another dialect reads the connection from its upgrade on. */
  private decideWebSocket(conn: Conn, v3: boolean): void {
    const held = conn.wsHeld as { upgrade: HttpUpgradeEvent; events: CaptureEvent[] }
    if (!v3) return this.handOver(conn, held.upgrade)
    conn.wsHeld = undefined
    this.startWebSocket(conn, held.upgrade)
    for (const e of held.events) this.event(e)
  }

  /** A WebSocket event of a ws-pending connection: held; the first message decides. */
  private holdWebSocket(conn: Conn, event: CaptureEvent): void {
    const held = conn.wsHeld as { upgrade: HttpUpgradeEvent; events: CaptureEvent[] }
    held.events.push(event)
    if (event.type !== 'ws-message') return
    const { v3, other } = this.sniffWebSocket(held.upgrade, event)
    this.decideWebSocket(conn, v3 >= other)
  }

  private tick(time: bigint): void {
    this.now = time
    if (time > this.lastTime) this.lastTime = time
  }

  private data(event: DataEvent): void {
    const conn = this.conns.get(event.connId)
    if (conn === undefined || conn.mode === 'skipped' || conn.mode === 'websocket' || conn.mode === 'ws-pending') return
    this.tick(event.time)
    if (conn.mode === 'stream') return this.feed(conn, event)
    if (conn.mode === 'foreign') return (this.foreign as DialectCaptureDecoder).event(event)
    if (this.ports.size > 0) {
      if (!this.ports.has(conn.serverPort) && !this.ports.has(conn.clientPort)) return this.skip(conn)
      this.startStream(conn, conn.sawSyn)
      return this.feed(conn, event)
    }
    conn.held.push(event)
    if (event.direction === 'server') {
      // A server speaking first is no STMP v3 server: with other dialects to try, they get it.
      if (this.foreign !== undefined) return this.handOver(conn)
      return
    }
    const clientBytes = conn.held.filter((e) => e.direction === 'client')
    // A picked-up connection (no SYN) does not start with its handshake: only detect from offset 0.
    if (clientBytes[0].streamOffset !== 0) return this.foreign !== undefined ? this.handOver(conn) : this.skip(conn)
    const start = Buffer.concat(clientBytes.map((e) => e.bytes).slice(0, 6))
    // What stmp-v3's CaptureSupport.sniff says of a stream, here on the hot path.
    const verdict = looksLikeHandshake(start, this.maxFrameSize)
    if (verdict === undefined) return
    if (!verdict) {
      // A TLS record (handshake, version 3.x) first: tls:// or wss:// traffic, encrypted.
      if (start.length >= 2 && start[0] === 0x16 && start[1] === 0x03) {
        this.summary.skippedTls++
        return this.skip(conn)
      }
      return this.foreign !== undefined ? this.handOver(conn) : this.skip(conn)
    }
    this.startStream(conn, true)
    const held = conn.held
    conn.held = []
    for (const each of held) {
      this.tick(each.time)
      this.feed(conn, each)
    }
    this.tick(event.time)
  }

  private skip(conn: Conn): void {
    conn.mode = 'skipped'
    conn.held = []
    this.summary.skippedConnections++
  }

  private startStream(conn: Conn, handshake: boolean): void {
    conn.mode = 'stream'
    this.summary.stmpConnections.stream++
    for (const flow of [conn.client, conn.server]) {
      const side = flow.direction
      flow.decoder = new StreamDecoder(
        (frame, offset, length) => this.streamFrame(conn, flow, frame, offset, length),
        (err) => this.error(err.code, err.message, err.offset, conn.connection, side, this.now),
        {
          serverLatency: conn.serverLatency,
          handshake: handshake ? side : 'none',
          maxFrameSize: this.maxFrameSize,
          maxMessageSize: Math.max(this.maxFrameSize, DEFAULT_LIMITS.maxMessageSize),
          continueAfterError: true,
          onHead: this.heads === undefined || this.filtered ? undefined : (head, bytes, offset, length) => this.streamHead(conn, flow, head, bytes, offset, length),
        },
      )
      if (this.messages) {
        flow.reassembler = new Reassembler({ maxMessageSize: Math.max(this.maxFrameSize, DEFAULT_LIMITS.maxMessageSize) })
        flow.openMessages = new Map()
      }
    }
  }

  private feed(conn: Conn, event: DataEvent): void {
    const flow = conn[event.direction]
    if (flow.lostFrom >= 0) {
      flow.lostEnd = Math.max(flow.lostEnd, event.streamOffset + event.bytes.length)
      return
    }
    ;(flow.decoder as StreamDecoder).write(event.bytes)
  }

  private streamFrame(conn: Conn, flow: Flow, frame: AnyFrame, offset: number, length: number): void {
    if (frame.kind === 'handshake-request') {
      const options = urlOptions(frame.url)
      conn.codec = options.codec
      conn.serverLatency = options.serverLatency
      ;(conn.client.decoder as StreamDecoder).serverLatency = options.serverLatency
      ;(conn.server.decoder as StreamDecoder).serverLatency = options.serverLatency
    }
    if (flow.reassembler !== undefined && (frame.kind === 'request' || frame.kind === 'push' || frame.kind === 'response') && (frame.follow || frame.fin)) {
      const key = (KIND_CODE[frame.kind] << 16) | frame.id
      // A continuation of a message that lost a frame to a gap (the decoder keeps those): shown unjoined.
      if ((flow.decoder as StreamDecoder).fragmentOfLostMessage) return this.frame(conn, flow, frame, offset, length, 'stream', 'binary')
      const open = flow.openMessages as Map<number, OpenMessage>
      let whole: MessageFrame | undefined
      try {
        whole = flow.reassembler.push(frame, offset)
      } catch (err) {
        if (!(err instanceof StmpProtocolError)) throw err
        open.delete(key)
        this.error(err.code, err.message, err.offset, conn.connection, flow.direction, this.now)
        return
      }
      const entry = open.get(key)
      if (whole === undefined) {
        if (entry === undefined) open.set(key, { offset, length, frames: 1, kind: frame.kind, id: frame.id })
        else {
          entry.length += length
          entry.frames++
        }
        return
      }
      open.delete(key)
      const first = entry ?? { offset, length: 0, frames: 0 }
      this.frame(conn, flow, whole, first.offset, first.length + length, 'stream', 'binary', first.frames + 1)
      return
    }
    this.frame(conn, flow, frame, offset, length, 'stream', 'binary')
  }

  /** A message frame as a head (see `heads`); false: it goes on as a Frame (a fragment with --messages). */
  private streamHead(conn: Conn, flow: Flow, head: FrameHead, bytes: Buffer, offset: number, length: number): boolean {
    if (flow.reassembler !== undefined && (head.follow || head.fin)) return false
    // Protobuf payloads need the frame's action (a Response: its request's): the frame path keeps those.
    if (this.protobuf !== undefined && conn.codec === 'protobuf') return false
    if (!this.count(conn, head.kind)) return true
    this.summary.shown++
    const out = this.headEvent
    out.head = head
    out.bytes = bytes
    out.offset = offset
    out.length = length
    out.time = this.now
    out.connection = conn.connection
    out.connId = conn.connId
    out.direction = flow.direction
    out.codec = conn.codec
    ;(this.heads as CaptureHeadSink)(out)
    return true
  }

  private upgrade(event: HttpUpgradeEvent): void {
    const conn = this.conns.get(event.connId)
    if (conn === undefined) return
    this.tick(event.time)
    if (this.ports.size > 0 && !this.ports.has(conn.serverPort) && !this.ports.has(conn.clientPort)) return this.skip(conn)
    if (!event.websocket && event.status === 0) return this.skip(conn)
    if (this.foreign !== undefined && event.websocket) {
      // Sure from the upgrade alone (a subprotocol, `stmp_*` or stmp-go's query), else the first message tells.
      const { v3, other } = this.sniffWebSocket(event)
      if (other === 2 && v3 < 2) return this.handOver(conn, event)
      if (v3 < 2) {
        conn.mode = 'ws-pending'
        conn.wsHeld = { upgrade: event, events: [] }
        return
      }
    }
    this.startWebSocket(conn, event)
  }

  private startWebSocket(conn: Conn, event: HttpUpgradeEvent): void {
    conn.mode = 'websocket'
    this.summary.stmpConnections.websocket++
    const options = urlOptions(event.url)
    conn.codec = options.codec
    conn.serverLatency = options.serverLatency
    this.frame(conn, conn.client, { kind: 'handshake-request', url: event.url, headers: event.requestHeaders }, 0, 0, 'websocket', 'http')
    if (event.status !== 0) {
      this.frame(conn, conn.server, { kind: 'handshake-response', status: event.status, message: event.statusText }, 0, 0, 'websocket', 'http')
    }
  }

  /**
   * A WebSocket close frame is the connection's STMP Close (wire notes §6): a `close` frame with
   * its code (1005, "no status", when it has none, as RFC 6455 7.1.5 says) and reason. Ping and
   * pong are the transport's own, not STMP frames.
   */
  private wsControl(event: WsControlEvent): void {
    if (event.opcode !== 'close') return
    const conn = this.conns.get(event.connId)
    if (conn !== undefined && this.elsewhere(conn, event)) return
    if (conn === undefined || conn.mode !== 'websocket') return
    this.tick(event.time)
    const frame: AnyFrame = { kind: 'close', status: event.code ?? 1005, message: event.reason ?? '' }
    this.frame(conn, conn[event.direction], frame, event.streamOffset, event.payload.length, 'websocket', 'control')
  }

  private wsUndecodable(event: WsUndecodableEvent): void {
    const conn = this.conns.get(event.connId)
    if (conn !== undefined && this.elsewhere(conn, event)) return
    if (conn === undefined || conn.mode !== 'websocket') return
    this.tick(event.time)
    if (event.lost === 'frame') this.summary.lostFrames++
    if (event.lost === 'end') this.summary.cutAtEnd++
    const out: CaptureUndecodableOut = { type: 'undecodable', connection: conn.connection, direction: event.direction, offset: event.streamOffset, bytes: event.bytes, time: event.time }
    if (event.lost !== undefined) out.lost = event.lost
    this.sink(out)
  }

  private wsMessage(event: WsMessageEvent): void {
    const conn = this.conns.get(event.connId)
    if (conn !== undefined && this.elsewhere(conn, event)) return
    if (conn === undefined || conn.mode !== 'websocket') return
    this.tick(event.time)
    const format: Format = event.opcode === 'text' ? 'text' : 'binary'
    const flow = conn[event.direction]
    let frame: AnyFrame
    try {
      frame = decodeMessage(event.payload, { format, serverLatency: conn.serverLatency }, 0)
    } catch (err) {
      if (!(err instanceof StmpProtocolError)) throw err
      this.error(err.code, err.message, event.streamOffset + err.offset, conn.connection, event.direction, event.time)
      return
    }
    this.frame(conn, flow, frame, event.streamOffset, event.payload.length, 'websocket', format)
  }

  private gap(event: Extract<CaptureEvent, { type: 'gap' }>): void {
    const conn = this.conns.get(event.connId)
    if (conn === undefined) return
    // Another dialect's connection: its line decoders cannot tell what a gap cut; it is skipped from here.
    if (conn.mode === 'foreign') return
    if (conn.mode === 'ws-pending') this.decideWebSocket(conn, true)
    this.tick(event.time)
    if (conn.mode === 'pending') {
      // The start of the connection is missing or the server spoke into a gap: cannot tell it is STMP.
      if (this.ports.size > 0 && (this.ports.has(conn.serverPort) || this.ports.has(conn.clientPort))) this.startStream(conn, false)
      else return this.skip(conn)
    }
    if (conn.mode === 'skipped') return
    this.summary.gaps++
    this.summary.gapBytes += event.missing
    this.sink({ type: 'gap', connection: event.connection, direction: event.direction, offset: event.streamOffset, bytes: event.missing, time: event.time })
    const flow = conn[event.direction]
    if (conn.mode === 'websocket' || flow.lostFrom >= 0) return
    const decoder = flow.decoder as StreamDecoder
    // The frame the gap cut into, if any, is not decoded either: start at its first byte.
    const lostFrom = decoder.frameStart
    const lost = decoder.gap(event.missing)
    if (lost !== undefined) return this.lostFrame(conn, flow, lost, event.time)
    flow.lostFrom = lostFrom
    flow.lostEnd = event.streamOffset + event.missing
  }

  /** A frame lost to a gap, whose end its LENGTH gave: reported, and decoding goes on after it. */
  private lostFrame(conn: Conn, flow: Flow, lost: LostFrame, time: bigint): void {
    // A frame over --max-frame was reported as TOO_LARGE already, and is skipped all the same.
    if (lost.tooLarge) return
    this.summary.lostFrames++
    const m = lost.message
    const out: CaptureUndecodableOut = {
      type: 'undecodable', connection: conn.connection, direction: flow.direction, offset: lost.offset, bytes: lost.end - lost.offset, lost: 'frame', time,
    }
    if (m !== undefined) {
      out.kind = m.kind
      out.id = m.id
    }
    this.sink(out)
    if (m === undefined || !(m.follow || m.fin) || flow.reassembler === undefined) return
    // --messages: the message cannot be joined. Its frames so far are reported; later ones are shown as they are (streamFrame).
    const key = (KIND_CODE[m.kind] << 16) | m.id
    const open = flow.openMessages as Map<number, OpenMessage>
    const entry = open.get(key)
    flow.reassembler.drop(m.kind, m.id)
    open.delete(key)
    if (entry !== undefined) {
      this.sink({ type: 'undecodable', connection: conn.connection, direction: flow.direction, offset: entry.offset, bytes: entry.length, lost: 'message', kind: m.kind, id: m.id, time })
    }
  }

  /**
   * A connection ends. `reason` 'end': the capture stopped while it was open, which is a gap at its
   * end, no protocol error: the frame it cut and (--messages) the messages it cut are reported as
   * `undecodable` with `lost: 'end'`. A FIN or RST inside a frame is the peer's doing: TRUNCATED.
   */
  private close(connId: number, time: bigint, reason: 'fin' | 'rst' | 'end'): void {
    const conn = this.conns.get(connId)
    if (conn === undefined) return
    this.tick(time)
    if (conn.mode === 'ws-pending') this.decideWebSocket(conn, true)
    if (conn.mode === 'pending' && this.foreign !== undefined && conn.held.length > 0) this.handOver(conn)
    this.conns.delete(connId)
    if (conn.mode === 'foreign') {
      const foreign = this.foreign as DialectCaptureDecoder
      foreign.event({ type: 'tcp-close', connId, connection: conn.connection, time, reason: reason === 'end' ? 'end' : reason } as CaptureEvent)
      this.countUnknown()
      return
    }
    if (conn.mode === 'pending') {
      this.skip(conn)
      return
    }
    if (conn.mode !== 'stream') return
    for (const flow of [conn.client, conn.server]) {
      const decoder = flow.decoder as StreamDecoder
      if (flow.lostFrom >= 0) {
        this.sink({ type: 'undecodable', connection: conn.connection, direction: flow.direction, offset: flow.lostFrom, bytes: flow.lostEnd - flow.lostFrom, time })
      } else if (reason !== 'end') {
        decoder.end()
        this.unfinishedMessages(conn, flow, time)
      } else {
        this.cutAtEnd(conn, flow, time)
      }
    }
  }

  /**
   * The connection closed (FIN or RST) while --messages held fragments of a message whose last
   * fragment never came: they are reported, not dropped (`lost: 'close'`).
   */
  private unfinishedMessages(conn: Conn, flow: Flow, time: bigint): void {
    for (const m of flow.openMessages?.values() ?? []) {
      this.sink({ type: 'undecodable', connection: conn.connection, direction: flow.direction, lost: 'close', time, offset: m.offset, bytes: m.length, kind: m.kind, id: m.id, fragments: m.frames })
    }
    flow.openMessages?.clear()
  }

  /** The capture ended inside this direction: what it cut, reported (fragmented messages first: they started earlier). */
  private cutAtEnd(conn: Conn, flow: Flow, time: bigint): void {
    const base = { type: 'undecodable', connection: conn.connection, direction: flow.direction, lost: 'end', time } as const
    for (const m of flow.openMessages?.values() ?? []) {
      this.summary.cutAtEnd++
      this.sink({ ...base, offset: m.offset, bytes: m.length, kind: m.kind, id: m.id, fragments: m.frames })
    }
    flow.openMessages?.clear()
    const cut = (flow.decoder as StreamDecoder).cut()
    if (cut === undefined) return
    this.summary.cutAtEnd++
    const out: CaptureUndecodableOut = { ...base, offset: cut.offset, bytes: cut.held }
    if (cut.message !== undefined) {
      out.kind = cut.message.kind
      out.id = cut.message.id
    }
    if (cut.end >= 0) out.missing = cut.end - cut.offset - cut.held
    this.sink(out)
  }

  private error(code: string, message: string, offset: number | undefined, connection: string | undefined, direction: Direction | undefined, time: bigint): void {
    this.summary.errors++
    this.summary.errorCodes[code] = (this.summary.errorCodes[code] ?? 0) + 1
    this.sink({ type: 'error', code, message, offset, connection, direction, time })
  }

  private frame(
    conn: Conn, flow: Flow, frame: AnyFrame, offset: number, length: number, transport: CaptureTransport, format: CaptureFormat, fragments?: number,
  ): void {
    if (!this.count(conn, frame.kind)) return
    const protobuf = this.protobuf !== undefined && conn.codec === 'protobuf'
    // actionOf keeps the request -> action map, which must see every frame it is used for; called once a frame.
    const action = this.actionTest !== undefined || protobuf ? this.actionOf(conn, flow, frame) : undefined
    if (this.filtered && !this.passes(frame, action)) return
    this.summary.shown++
    const out: CaptureFrameEvent = {
      type: 'frame', frame, offset, length, time: this.now, connection: conn.connection, connId: conn.connId, direction: flow.direction,
      transport, format, codec: conn.codec,
    }
    if (fragments !== undefined && fragments > 1) out.fragments = fragments
    if (protobuf) {
      const json = this.protobufJson(frame, action)
      if (json !== undefined) out.payloadJson = json
    }
    this.sink(out)
  }

  /**
   * A whole Request, Push or 2xx Response payload decoded by the message type its action names in
   * the --proto files, as JSON text; undefined for a fragment, an empty payload (as for every
   * content type), an action the files do not name, or bytes that are not that message.
   */
  private protobufJson(frame: AnyFrame, action: string | undefined): string | undefined {
    if (frame.kind !== 'request' && frame.kind !== 'push' && frame.kind !== 'response') return undefined
    if (frame.follow || frame.fin || frame.payload.length === 0 || action === undefined) return undefined
    const status = frame.kind === 'response' ? frame.status ?? 0 : 200
    if (status < 200 || status > 299) return undefined
    try {
      return JSON.stringify((this.protobuf as ProtobufCodec).decode(frame.payload, { action, role: frame.kind }))
    } catch {
      return undefined
    }
  }

  /** Counts a decoded frame; whether its connection passes --connection. */
  private count(conn: Conn, kind: FrameKindName): boolean {
    this.summary.frames++
    this.summary.framesByKind[kind] = (this.summary.framesByKind[kind] ?? 0) + 1
    return this.connectionFilter === undefined || conn.connection.includes(this.connectionFilter)
  }

  private passes(frame: AnyFrame, action: string | undefined): boolean {
    if (this.actionTest !== undefined && (action === undefined || !this.actionTest.test(action))) return false
    if (this.kinds !== undefined && !this.kinds.has(frame.kind)) return false
    if (this.statusTest !== undefined) {
      const status = statusOf(frame)
      if (status === undefined || !this.statusTest(status)) return false
    }
    return true
  }

  /** The action a frame belongs to: its own, its fragmented message's, or its request's (a Response). */
  private actionOf(conn: Conn, flow: Flow, frame: AnyFrame): string | undefined {
    if (frame.kind !== 'request' && frame.kind !== 'push' && frame.kind !== 'response') return undefined
    flow.openActions ??= new Map()
    flow.requestActions ??= new Map()
    const key = (KIND_CODE[frame.kind] << 16) | frame.id
    if (frame.kind === 'response') {
      const other = flow.direction === 'client' ? conn.server : conn.client
      const action = other.requestActions?.get(frame.id)
      if (!frame.fin) other.requestActions?.delete(frame.id)
      return action
    }
    let action = frame.action
    if (frame.follow) {
      action = flow.openActions.get(key)
      if (!frame.fin) flow.openActions.delete(key)
    } else if (frame.fin && action !== undefined) {
      flow.openActions.set(key, action)
    }
    if (frame.kind === 'request' && !frame.follow && action !== undefined) flow.requestActions.set(frame.id, action)
    return action
  }
}

/** Adds `from`'s counts into `into` (the summaries of decoders that saw different connections). */
export function addSummary(into: CaptureSummary, from: CaptureSummary): void {
  const addCounts = (a: Record<string, number>, b: Record<string, number>) => {
    for (const [key, n] of Object.entries(b)) a[key] = (a[key] ?? 0) + n
  }
  into.connections += from.connections
  into.stmpConnections.stream += from.stmpConnections.stream
  into.stmpConnections.websocket += from.stmpConnections.websocket
  into.skippedConnections += from.skippedConnections
  into.frames += from.frames
  addCounts(into.framesByKind, from.framesByKind)
  into.shown += from.shown
  into.errors += from.errors
  addCounts(into.errorCodes, from.errorCodes)
  into.gaps += from.gaps
  into.gapBytes += from.gapBytes
  into.lostFrames += from.lostFrames
  into.cutAtEnd += from.cutAtEnd
  into.ipFragments += from.ipFragments
  into.cutShortPackets += from.cutShortPackets
  into.skippedTls += from.skippedTls
  into.packets += from.packets
  into.skippedPackets += from.skippedPackets
  if (from.dialects !== undefined) {
    into.dialects ??= {}
    addCounts(into.dialects, from.dialects)
  }
}
