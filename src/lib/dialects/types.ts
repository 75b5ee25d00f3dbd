import type { StmpError } from '../errors.js'
import type { ProtoRegistry } from '../payload/protobuf.js'

/**
 * A wire dialect: one protocol that shares stmpcat's message model (request, response, push,
 * ping, close) and differs in framing, negotiation, ids, statuses and close. Every session,
 * bench connection and `decode` run goes through one of these; nothing above `dialects/` knows
 * a dialect's bytes. A dialect is one folder under `src/lib/dialects/` whose `index.ts` exports
 * `dialect` (the registry is generated from the folders: scripts/gen-dialects.mjs).
 *
 * Conventions every dialect follows, so the layers above need no table per dialect:
 * - **Statuses are stmpcat's** (HTTP-like: 200 ok, 4xx the caller's fault, 5xx the server's).
 *   A dialect maps its wire statuses to and from them at its edge (`statuses` documents the table).
 * - **Close codes are stmpcat's** (WebSocket's numbers: 1000 normal, 1001 going away, 1002
 *   protocol error, 1008 policy, 1009 too large, 1011 internal). A dialect maps its own close
 *   statuses (stmp-go's 0x00..0x41, CAMP's 4000-4002, none for Sockhop) to and from them.
 * - **Ids are the session's**: numbers 1..`idSpace`, allocated by the session, never reused while
 *   pending. A dialect whose wire ids are something else (UUIDs, strings, ack counters) keeps the
 *   mapping inside its Wire.
 */
export interface Dialect {
  /** The `--dialect` name: the folder name. */
  readonly name: string
  /** For people: "STMP v3", "stmp-go 1.0". */
  readonly title: string
  /** One line: what it is and where it comes from. */
  readonly summary: string
  /** Address schemes it runs over. */
  readonly schemes: readonly Scheme[]
  readonly features: DialectFeatures
  /**
   * Command flags only this dialect understands (`format`, `server-latency`, `token`, ...): under
   * another dialect the commands refuse them with BAD_FLAG. Common flags are not listed.
   */
  readonly flags: readonly string[]
  /** Largest session id plus one is never used: ids run 1..idSpace. */
  readonly idSpace: number
  /** The status table for docs and `stmpcat dialects` (wire value -> stmpcat status). */
  readonly statuses?: readonly StatusMapping[]
  /** Content types (payload codecs) the dialect can carry; the first is the default. */
  readonly contentTypes: readonly string[]
  /**
   * Server rooms, for a dialect with rooms on the wire: `own(n)` names the room each connection
   * joins when it opens (`n` counts the server's connections from 1: Stocking's per-client
   * channel, so `5,2,...` reaches client 2 only); with `missing` the server hands a broadcast to a
   * room nobody is in back to the sender's Wire as `command('room-missing', { room })` (Stocking's
   * `1,0,Channel "x" not found`). Without them, rooms are created by joining and a broadcast to an
   * empty one reaches nobody.
   */
  readonly rooms?: { own?: (n: number) => string; missing?: boolean }
  /** The per-connection object. */
  open(context: WireContext): Wire
  /**
   * Client: what goes into the target's query and headers (the WebSocket upgrade, and the URL and
   * headers Wire.start gets on a stream) and the subprotocols offered, from the command's options
   * and the query the address already has. Throws BAD_FLAG on options it cannot use.
   */
  upgrade?(options: DialectOptions, query: URLSearchParams): UpgradeRequest
  /** Server on WebSocket: accept or refuse an upgrade before it completes (status 200 accepts). */
  decideUpgrade?(request: { url: string; headers: Record<string, string> }, policy: NegotiationPolicy): NegotiationDecision
  /**
   * Server on WebSocket: a refusal from decideUpgrade is said in-band (the upgrade completes and
   * the Wire's refuse() writes the refusal as the server's first message, then the connection
   * ends), as stmp-go's HandleWebsocketConn does, so the dialect's clients read its status; without
   * it the upgrade itself is refused with that HTTP status.
   */
  readonly refusesInBand?: boolean
  /**
   * Checks the values of the dialect's own options (`-O KEY=VALUE`, its flags) before anything is
   * dialled or bound (clients: checkDialectFlags; servers: StmpServer.listen): throws BAD_FLAG
   * (exit 2) on one it cannot use, so a bad value is a usage error, not a failure per connection.
   */
  checkOptions?(options: DialectOptions): void
  /** Reading captures: sniffing and a pure decoder per connection direction. */
  readonly capture?: CaptureSupport
  /** bench's fast path: optional. Without it bench goes through Session.call(). */
  readonly template?: TemplateSupport
}

export type Scheme = 'tcp' | 'tls' | 'unix' | 'ws' | 'wss'

export interface DialectFeatures {
  requests: boolean
  pushes: boolean
  ping: boolean
  /** Request/response headers (stmp-go packet headers). */
  headers: boolean
  rooms: boolean
  acks: boolean
  transactions: boolean
  typedBuffers: boolean
  /** Large messages split into frames by the dialect itself. */
  fragmentation: boolean
  /** Text and binary formats on WebSocket. */
  textFormat: boolean
}

export interface StatusMapping {
  wire: string
  status: number
  name: string
}

/** The options a command hands a dialect (the values of the flags it accepts). */
export interface DialectOptions {
  contentType?: string
  format?: 'binary' | 'text'
  serverLatency?: boolean
  token?: string
  /** `-H k:v` headers (handshake headers, stmp-go packet headers). */
  headers?: Record<string, string>
  /** Anything a dialect's own flags carry (terminator, sid, gzip, ...). */
  [key: string]: unknown
}

export interface UpgradeRequest {
  query?: Record<string, string>
  protocols?: string[]
  headers?: Record<string, string>
}

/** What a server is configured to accept (serve's --token, shutting down, content types). */
export interface NegotiationPolicy {
  token?: string
  shuttingDown?: boolean
  contentTypes?: readonly string[]
  /** The listener's scheme (tcp, tls, unix, ws, wss), for messages that name it. */
  scheme?: string
}

export interface NegotiationDecision {
  /** stmpcat status: 200 accepts. */
  status: number
  message: string
  contentType?: string
  /** Whatever else the dialect agreed (serverLatency, gzip, packet format, ...): shown in --log. */
  agreed?: Record<string, unknown>
}

/** What the session gives a Wire when a connection starts. */
export interface WireContext {
  role: 'client' | 'server'
  framing: 'stream' | 'websocket'
  options: DialectOptions
  limits: { maxFrameSize: number; maxMessageSize: number; maxOpenMessages: number }
  /** Largest frame this side sends before fragmenting (dialects that fragment). */
  fragmentSize: number
  out: WireOutput
  sink: WireSink
}

/**
 * How a Wire writes: the session's write queue (coalesced per tick, one syscall per flush,
 * backpressure, the Close waits behind what is queued).
 */
export interface WireOutput {
  /** Stream bytes, or one WebSocket message (`text`: a text message). */
  write(bytes: Buffer, text?: boolean): void
  /**
   * Room for a small frame (at most 4 KiB) in the pool shared by every session: returns the
   * offset in `pool` where exactly `size` bytes must be written now. Streams only.
   */
  reserve(size: number): number
  readonly pool: Buffer
  /** A large message in pieces: they go out one per flush, behind what is queued, before a Close. */
  parts(parts: Buffer[]): void
  /** Bytes written and not yet taken by the kernel (the session's queue and the transport's buffer): a dialect's own backpressure. */
  readonly buffered: number
}

/** Extra data of a message beyond the core model, shown in traces and --json. */
export interface MessageMeta {
  /** stmp-go packet headers, Sockhop's `type`, ... */
  headers?: Record<string, string>
  type?: string
  /** The format the message came in (v3 WebSocket text/binary): the answer goes back in it. */
  format?: 'binary' | 'text'
  /** Server-measured latency in ms (v3 `stmp_server_latency`). */
  latency?: number | null
  /** A server's response: its own headers (set by routes' `headers:` and handlers' `ctx.set`), for a dialect whose responses carry them. */
  responseHeaders?: Record<string, string>
  /** A note for people on a failed answer (what the dialect knows about why), shown after its status. */
  hint?: string
  [key: string]: unknown
}

/** What a Wire reports to the session. */
export interface WireSink {
  /** Negotiation finished (client: the server accepted; server: this side accepted). */
  opened(info: { url?: string; headers?: Record<string, string>; contentType?: string; agreed?: Record<string, unknown> }): void
  /** Client: the server refused the handshake (stmpcat status and the server's message). */
  refused(status: number, message: string): void
  /** Server: a client's in-band handshake; the answer decides (status 200 accepts). */
  negotiate(request: { url: string; headers: Record<string, string> }): NegotiationDecision
  request(id: number, action: string, payload: Buffer, meta?: MessageMeta): void
  response(id: number, status: number, payload: Buffer, meta?: MessageMeta): void
  push(action: string, payload: Buffer, meta?: MessageMeta): void
  /** The peer pinged: the session answers with Wire.pong(id) (or counts it when the dialect answered). */
  ping(id: number): void
  /** The answer to this side's ping `id`. */
  pong(id: number): void
  /** The peer's Close, in stmpcat close codes. */
  close(code: number, message: string): void
  /** A dialect event beyond the core model (room joined, ack, transaction progress, ...). */
  event(name: string, data: Record<string, unknown>): void
  /** The peer's bytes broke the dialect: the session closes with err.closeCode. */
  error(err: StmpError & { closeCode: number; closeMessage(): string; kind?: string; messageId?: number }): void
  /** Every frame in and out, for -v and --log (cheap to skip: check `tracing` first). */
  trace(direction: 'in' | 'out', frame: TraceFrame): void
  readonly tracing: boolean
}

/**
 * A frame as traces and `decode` show it: `kind` plus the fields that kind has (STMP v3's frames
 * as codec/types.ts has them; other dialects' kinds with their own fields: id, action, status,
 * payload (a Buffer), headers, ...).
 */
export interface TraceFrame {
  kind: string
}

/** What a Wire does about a Close, as the session's close machinery needs to know. */
export type CloseAction =
  /** A close message was written; the peer answers with its own (then the transport ends). */
  | 'frame'
  /** The transport's own close carries it (WebSocket close frame with `endArgs`). */
  | 'transport'
  /** The dialect has no close message: the transport just ends (FIN). */
  | 'end'

/** One connection's protocol state machine, below the session, above the transport. */
export interface Wire {
  /**
   * `handshake`: nothing but negotiation passes until `sink.opened`. `open`: the connection is
   * usable at once (the WebSocket upgrade was the handshake).
   */
  readonly initial: 'handshake' | 'open'
  /** Client: starts negotiation (send the hello) with the URL and headers of the target. */
  start(request: { url: string; headers: Record<string, string> }): void
  /** Server: the WebSocket upgrade it accepted (with the decision); a server speaking first writes now. */
  accepted?(request: { url: string; headers: Record<string, string> }, decision: NegotiationDecision): void
  /** Server: answers the client's in-band handshake with a refusal (then the session ends). */
  refuse(status: number, message: string): void
  /** Bytes from a stream, or one WebSocket message. */
  receive(data: Buffer, text: boolean): void
  request(id: number, action: string, payload: Buffer, meta?: MessageMeta): void
  response(id: number, status: number, payload: Buffer, meta?: MessageMeta): void
  push(id: number, action: string, payload: Buffer, meta?: MessageMeta): void
  ping(id: number): void
  pong(id: number): void
  /** Sends a Close (stmpcat close code). `answer`: it answers the peer's Close. */
  close(code: number, message: string, answer: boolean): CloseAction
  /** Arguments for transport.end() (the WebSocket close code and reason; none on streams). */
  endArgs(code: number, message: string): [code?: number, reason?: string]
  /** The WebSocket close code the peer sent, in stmpcat close codes (a dialect with its own, e.g. CAMP's 4000-4002). */
  closeCodeIn?(code: number): number
  /** The transport drained (a dialect that queues its own frames sends more). */
  drained?(): void
  /** A dialect command beyond the core model (join/leave a room, broadcast, send a typed buffer). */
  command?(name: string, args: Record<string, unknown>): void
  /** Drops open fragment state (the connection ended). */
  reset(): void
  /**
   * Streams, with a TemplateSupport: bytes of a partial frame the Wire holds (bench's scanner
   * runs only at a frame boundary, when this is 0; a Wire that stopped decoding says > 0).
   */
  readonly buffered?: number
  /** Streams: `bytes` were consumed by the template's scanner before receive() (keeps error offsets exact). */
  skipped?(bytes: number): void
  /** Changes what was negotiated after the start (v3's server latency). */
  configure?(agreed: Record<string, unknown>): void
  /** The dialect's own per-connection figures for serve --stats (CAMP: ack timeouts, ACK round trips). */
  stats?(): Record<string, number | null>
}

/** Reading captures (pure: no I/O, no timers). */
export interface CaptureSupport {
  /**
   * How sure the dialect is that a connection is its own, from the first bytes each way (and the
   * upgrade request on WebSocket): 0 no, 1 could be, 2 sure.
   */
  sniff(first: SniffInput): 0 | 1 | 2
  /** A decoder for one direction of one connection. */
  decoder(context: CaptureDecoderContext): CaptureDecoder
}

export interface CaptureDecoderContext {
  direction: 'client' | 'server'
  framing: 'stream' | 'websocket'
  upgrade?: { url: string; headers: Record<string, string> }
  /**
   * One object per connection, the same for both directions' decoders: a dialect where one side's
   * frames say how to read the other's (STMP v3's handshake URL turns on latency in Responses)
   * keeps that here. The client's first bytes are written before the server's answer to them.
   */
  shared?: Record<string, unknown>
  /** `decode --proto`: the services, for a dialect whose payloads are typed by their action (stmp-go). */
  protoRegistry?: ProtoRegistry
}

export interface SniffInput {
  framing: 'stream' | 'websocket'
  /** First bytes (stream) or first message (WebSocket) from the client and the server. */
  client?: Buffer
  server?: Buffer
  upgrade?: { url: string; headers: Record<string, string> }
}

export interface CaptureDecoder {
  /** Stream bytes (in order) or one WebSocket message; `offset` is where they start in the direction. */
  write(data: Buffer, offset: number, text: boolean): void
  /** The direction ended (FIN/RST or the capture ended): `reason` for bytes left over. */
  end(reason: 'close' | 'end'): void
  onFrame?: (frame: DecodedFrame) => void
  onError?: (error: { code: string; message: string; offset: number; bytes?: Buffer }) => void
}

/** A decoded frame for `decode`: a TraceFrame with where it was. */
export interface DecodedFrame extends TraceFrame {
  [field: string]: unknown
  offset: number
  length: number
  /** The payload bytes, when the frame has one (decode shows them with the payload codec). */
  payload?: Buffer
}

/**
 * bench's fast path: a request (or push) encoded once, patched per send with its id, and
 * responses found in the received bytes without decoding them into objects. A dialect without
 * it is benchmarked through its Wire (Wire.request per send, sink.response per answer).
 */
export interface TemplateSupport {
  /**
   * Encodes a request (or, `kind: 'push'`, a push) for `action`/`payload` with a placeholder id,
   * once per connection after its negotiation (`options` hold what was agreed). Undefined: no
   * template for this message (one the dialect would fragment, say): bench uses the Wire.
   */
  build(action: string, payload: Buffer, context: TemplateContext): RequestTemplate | undefined
}

export interface TemplateContext {
  framing: 'stream' | 'websocket'
  kind: 'request' | 'push'
  options: DialectOptions
  /** The session's fragment size (a dialect that fragments returns no template above it). */
  fragmentSize: number
}

export interface RequestTemplate {
  readonly bytes: Buffer
  /** A WebSocket text message (false: binary, and always on streams). */
  readonly text: boolean
  /** Writes `id` into a copy of `bytes` that starts at `pos` of `frame` (the rest is left as it is). */
  patch(frame: Buffer, pos: number, id: number): void
  /**
   * Scans received stream bytes from `start` for whole responses: calls `onResponse(id, status)`
   * for each and returns where it stopped: at the first byte of anything else (another kind, a
   * frame split across chunks, a fragment), which the Wire then decodes as usual. Only called
   * when the Wire holds no partial frame (Wire.buffered is 0).
   */
  scan(data: Buffer, start: number, end: number, onResponse: (id: number, status: number) => void): number
}
