import { isUtf8 } from 'node:buffer'
import { nextIncomingId } from '../../codec/ids.js'
import { basename } from 'node:path'
import { StmpError, WireError } from '../../errors.js'
import type { CloseAction, TraceFrame, Wire, WireContext } from '../types.js'
import { type Queued, SendQueue, backpressureOptions } from './backpressure.js'
import {
  BEHAVIOUR, CAMP_VERSION, CHUNK_HEADER, CLOSE, FEATURE_TRANSACTIONS, chunkFrame, type Frame, MAX_PAYLOAD, campCloseCode, decodeFrame, encodeFrame,
  parseSid, stmpCloseCode,
} from './codec.js'
import { SavedFile, type Source, badTxName, bufferSource, fileSource } from './transfer.js'

/** CAMP-Server's AckTracker drops an entry still unconfirmed after this long (MAX_STATE_DURATION_MS). */
export const DEFAULT_ACK_TIMEOUT = 2500
/** Frames this side sent and the peer has not acknowledged yet, at most (the oldest is given up past it). */
export const MAX_UNACKED = 65_536
/** Transactions from the peer open at once, at most. */
export const MAX_OPEN_TRANSACTIONS = 1024
/**
 * Session ids of the server connections open in this process: CAMP-Server refuses an upgrade
 * whose sid already has a session (401), and so does decideUpgrade (index.ts).
 */
export const liveSids = new Set<bigint>()
/** Ids of pings from the peer: above the session's own ping ids (1..0xffff), never mistaken for them. */
const PEER_PING_BASE = 0x10000
/** Outgoing transaction chunks wait while the session and the transport hold this much (bounded memory for a file of any size). */
export const SEND_HIGH_WATER = 1024 * 1024
/** The chunk size of outgoing transactions unless told (push --file, pull answers). */
export const DEFAULT_CHUNK = 64 * 1024
/** `save-dir`: a transaction of unknown size (-1) is saved up to this many bytes; one of known size up to its size. */
export const MAX_SAVED_UNKNOWN = 4 * 1024 ** 3
/** TX_FETCH ranges of one pull transaction waiting to be sent, at most (more are refused). */
export const MAX_FETCH_RANGES = 1024
const EMPTY = Buffer.alloc(0)

type ErrorArg = Parameters<WireContext['sink']['error']>[0]
type DataKind = 'utf8' | 'binary'

interface Unacked {
  kind: string
  sentAt: number
  /** The session id of a request: its ACK is the response. */
  id?: number
  /** Our BYE: its ACK lets the close go on (with its reason). */
  bye?: string
}

/** A transaction the peer is sending (TX_START .. TX_FINISH). */
interface Incoming {
  name: string
  size: bigint
  behaviour: number
  bytes: number
  chunks: number
  /** Chunks whose offset was CAMP-Server's: one more per earlier chunk than the bytes before it. */
  offByOne: number
  /** Chunks at an offset neither exact nor CAMP-Server's. */
  misplaced: number
  /** The data, kept while it fits in limits.maxMessageSize (then delivered as a push on TX_FINISH). */
  parts: Buffer[] | null
  /** A pull transaction (the chunks come at the offsets this side fetched). */
  pull: boolean
  /** `save-dir`: the file it is written to. */
  file?: SavedFile
}

/** A transaction this side sends: a push streamed from its source, or a pull offer answering TX_FETCH ranges. */
interface Outgoing {
  txId: number
  name: string
  behaviour: number
  source: Source
  chunk: number
  /** Ranges still to send [pos, end): a push's one, a pull's fetched ones in order. */
  ranges: { pos: number; end: number }[]
  sent: number
  /** A pull offer of a buffer (serve -O pull=echo): counted against the message limit while it waits. */
  inMemory: boolean
}

/**
 * CAMP on one WebSocket connection (wire notes §4). The upgrade was the handshake (query
 * `authorization=Bearer <token>` and `x-CAMP-sid`, subprotocol `camp`), so the Wire is open at
 * once; then each side announces itself with ENDPOINT_INFO (the server first).
 *
 * - Every frame but ACK, PING_PONG and TX_CHUNK carries this side's ack counter (u32 from 0,
 *   wrapping); the receiver answers ACK with it. This Wire acknowledges every such frame it
 *   receives, and tracks its own: one still unacknowledged after `ack-timeout` ms (default 2500,
 *   CAMP-Server's AckTracker) is reported as the event `ack-timeout` (CAMP's stat-ack-timeout).
 * - CAMP has no request/response. A request from this side is one data frame (UTF8DATA, or
 *   BINARYDATA: see `dataKind`); its ACK is the response (status 200, no payload), an ack
 *   timeout is 504. A data frame from the peer is, on a client, a push (action `utf8` or
 *   `binary`); on a server, a request whose 2xx answer goes back as a data frame of the same
 *   type (echo) and whose error answer goes back as an ERROR frame.
 * - PING_PONG "ping" is answered "pong"; our ping waits for a "pong".
 * - BYE closes gracefully: the receiver ACKs it and closes the WebSocket with 4000. Close codes
 *   4000-4002 map to and from stmpcat's (codec.ts campCloseCode / stmpCloseCode).
 * - Transactions from the peer are acknowledged and reported as events (`tx-start`, `tx-chunk`,
 *   `tx-finish`, `tx-fetch`, `tx-cancel`); a finished one that fitted in memory is also a push
 *   with action `tx:<name>`. CAMP-Server's off-by-one chunk offsets are taken as sent and counted.
 *   With `save-dir` each is written to DIR/<name> as it comes (transfer.ts; bad names refused).
 * - Transactions this side sends (`tx-send-file`, pull offers: `tx-offer`, `pull-file`,
 *   `pull=echo`) are read a chunk at a time from their source while the session and transport
 *   hold less than SEND_HIGH_WATER, and go on at drained(): bounded memory for any size.
 */
export class CampWire implements Wire {
  readonly initial = 'open' as const
  private readonly server: boolean
  private sid = 0n
  private nextAck = 0
  private readonly unacked = new Map<number, Unacked>()
  private ackTimer?: NodeJS.Timeout
  private readonly ackTimeout: number
  /** Server: requests from the peer (session id -> the data frame's type). */
  private readonly incoming = new Map<number, DataKind>()
  private nextIncomingId = 0
  private readonly pings: number[] = []
  private nextPeerPing = 0
  /** The peer's ENDPOINT_INFO (undefined until it came). */
  private peer?: { version: number; flags: bigint }
  private readonly transactions = new Map<number, Incoming>()
  private nextTxId = 0
  /** Bytes of unfinished transactions kept in memory, all together. */
  private keptBytes = 0
  /** This server connection's sid is in liveSids. */
  private registered = false
  /** Frames given up on (no ACK in time), RTT of the last ACK (ms). */
  ackTimeouts = 0
  rtt: number | null = null
  private rttSum = 0
  private rttCount = 0
  /** Transactions finished: received from the peer, sent by this side. */
  private txIn = 0
  private txOut = 0
  /** `save-dir`: finished transactions from the peer are written there as files. */
  private readonly saveDir?: string
  /** Server: `pull-file` offered to each client as a pull transaction; `pull=echo` offers back each push transaction. */
  private readonly pullFile?: string
  private readonly pullEcho: boolean
  private readonly outgoing = new Map<number, Outgoing>()
  private pumpTimer?: NodeJS.Timeout

  /** The send queue of `-O backpressure=...` and its water marks (undefined: frames go straight out). */
  readonly queue?: SendQueue
  private retryTimer?: NodeJS.Timeout

  constructor(private readonly ctx: WireContext) {
    this.server = ctx.role === 'server'
    const bp = backpressureOptions(ctx.options)
    if (bp !== undefined) this.queue = new SendQueue(bp, (b) => ctx.out.write(b, false), () => ctx.out.buffered, (item, why) => this.onDropped(item, why))
    const t = Number(ctx.options['ack-timeout'] ?? DEFAULT_ACK_TIMEOUT)
    this.ackTimeout = Number.isFinite(t) && t > 0 ? t : DEFAULT_ACK_TIMEOUT
    const sid = typeof ctx.options.sid === 'string' ? parseSid(ctx.options.sid) : undefined
    if (sid !== undefined) this.sid = sid
    if (typeof ctx.options['save-dir'] === 'string' && ctx.options['save-dir'] !== '') this.saveDir = ctx.options['save-dir']
    if (this.server && typeof ctx.options['pull-file'] === 'string' && ctx.options['pull-file'] !== '') this.pullFile = ctx.options['pull-file']
    this.pullEcho = this.server && ctx.options.pull === 'echo'
  }

  start(): void {}

  /** Both sides: the upgrade is done. The sid is the one in its query; then ENDPOINT_INFO (the server's is the first frame). */
  accepted(request: { url: string }): void {
    const sid = parseSid(new URLSearchParams(request.url.split('?')[1] ?? '').get('x-CAMP-sid'))
    if (sid !== undefined) this.sid = sid
    if (this.server && sid !== undefined) {
      liveSids.add(sid)
      this.registered = true
    }
    this.send({ kind: 'endpoint-info', sid: this.sid, ack: this.takeAck(), version: CAMP_VERSION, flags: FEATURE_TRANSACTIONS }, { kind: 'endpoint-info', sentAt: performance.now() })
  }

  refuse(): void {}

  receive(data: Buffer): void {
    try {
      this.onFrame(decodeFrame(data, 0, Math.min(MAX_PAYLOAD, this.ctx.limits.maxMessageSize)))
    } catch (err) {
      if (err instanceof WireError) this.ctx.sink.error(err as ErrorArg)
      else throw err
    }
  }

  private onFrame(f: Frame): void {
    const sink = this.ctx.sink
    if (sink.tracing && f.kind !== 'utf8' && f.kind !== 'binary') sink.trace('in', traceOf(f))
    switch (f.kind) {
      case 'ack':
        return this.onAck(f.acked)
      case 'ping':
        return sink.ping(this.peerPingId())
      case 'pong':
        if (this.pings.length > 0) sink.pong(this.pings.shift() as number)
        return
      case 'endpoint-info':
        if (f.version !== CAMP_VERSION) {
          // CAMP-Server closes with 4001 without acknowledging; a client gives up the same way.
          throw new WireError('BAD_VERSION', `the peer speaks CAMP version ${f.version}; this side speaks ${CAMP_VERSION}`, 13, { closeCode: this.server ? CLOSE.CLIENT_ERROR : CLOSE.SERVER_ERROR })
        }
        this.ack(f.ack)
        this.peer = { version: f.version, flags: f.flags }
        sink.event('endpoint-info', { version: f.version, flags: Number(f.flags & 0xffffffffn), transactions: (f.flags & FEATURE_TRANSACTIONS) !== 0n })
        // serve -O pull-file: the file is offered once the client said it speaks transactions.
        if (this.pullFile !== undefined && (f.flags & FEATURE_TRANSACTIONS) !== 0n) this.offerFile(this.pullFile)
        return
      case 'bye':
        this.ack(f.ack)
        return sink.close(1000, f.reason)
      case 'error':
        this.ack(f.ack)
        return sink.event('error', { message: f.message, ack: f.ack })
      case 'utf8':
      case 'binary':
        this.ack(f.ack)
        if (this.server) {
          const id = this.incomingId()
          this.incoming.set(id, f.kind)
          if (sink.tracing) sink.trace('in', dataTrace(f, 'request', id))
          return sink.request(id, f.kind, f.payload, { format: 'binary', type: f.kind, ack: f.ack })
        }
        if (sink.tracing) sink.trace('in', dataTrace(f, 'push', 0))
        return sink.push(f.kind, f.payload, { format: 'binary', type: f.kind, ack: f.ack })
      default:
        return this.onTransaction(f)
    }
  }

  private onAck(acked: number): void {
    const entry = this.unacked.get(acked)
    if (entry === undefined) return
    this.unacked.delete(acked)
    const rtt = performance.now() - entry.sentAt
    this.rtt = rtt
    this.rttSum += rtt
    this.rttCount++
    if (this.unacked.size === 0) this.clearAckTimer()
    if (entry.id !== undefined) return this.ctx.sink.response(entry.id, 200, EMPTY, { format: 'binary', type: 'ack', ack: acked })
    // Our BYE was acknowledged: the close goes on (the peer closes the WebSocket with 4000 too).
    if (entry.bye !== undefined) this.ctx.sink.close(1000, entry.bye)
  }

  private onTransaction(f: Extract<Frame, { kind: `tx-${string}` }>): void {
    const sink = this.ctx.sink
    if (this.server) {
      // CAMP-Server: no Transaction namespace before the client's ENDPOINT_INFO (the frame is
      // dropped), and a client that did not announce transactions is closed with 4002.
      if (this.peer === undefined) return
      if ((this.peer.flags & FEATURE_TRANSACTIONS) === 0n) {
        throw new WireError('FEATURE_MISMATCH', `a ${f.kind} frame from a client whose ENDPOINT_INFO did not announce transactions (flags bit 0)`, 8, { closeCode: CLOSE.SERVER_ERROR })
      }
    }
    switch (f.kind) {
      case 'tx-start': {
        this.ack(f.ack)
        if (this.transactions.size >= MAX_OPEN_TRANSACTIONS && !this.transactions.has(f.txId)) {
          throw new WireError('TOO_MANY_TRANSACTIONS', `more than ${MAX_OPEN_TRANSACTIONS} transactions from the peer open at once`, 13, { closeCode: 1008 })
        }
        const old = this.transactions.get(f.txId)
        if (old !== undefined) {
          this.forget(old)
          old.file?.abort()
        }
        const tx: Incoming = { name: f.name, size: f.size, behaviour: f.behaviour, bytes: 0, chunks: 0, offByOne: 0, misplaced: 0, parts: [], pull: f.behaviour === BEHAVIOUR.PULL }
        this.transactions.set(f.txId, tx)
        sink.event('tx-start', { txId: f.txId, name: f.name, size: Number(f.size), behaviour: tx.pull ? 'pull' : 'push' })
        if (this.saveDir !== undefined) this.openSaved(f.txId, tx, this.saveDir)
        return
      }
      case 'tx-chunk': {
        const tx = this.transactions.get(f.txId)
        if (tx === undefined) return sink.event('tx-chunk', { txId: f.txId, offset: Number(f.offset), length: f.payload.length, unknown: true })
        // A pull transaction's chunks are where this side fetched them: not checked against the bytes before.
        const offset = tx.pull ? 'exact' : chunkOffset(f.offset, tx.bytes, tx.chunks)
        if (offset === 'off-by-one') tx.offByOne++
        else if (offset === 'misplaced') tx.misplaced++
        if (tx.file !== undefined) {
          // A push is written in order (whatever its offsets say: CAMP-Server's are off by one); a pull where it was fetched.
          const at = tx.pull ? f.offset : BigInt(tx.bytes)
          const limit = tx.size >= 0n ? tx.size : BigInt(MAX_SAVED_UNKNOWN)
          if (at + BigInt(f.payload.length) > limit) {
            // Past the announced size (or the bound for an unknown one): the file is not kept.
            tx.file.abort()
            tx.file = undefined
            sink.event('tx-refused', { txId: f.txId, name: tx.name, code: 'TOO_LARGE', message: `not saved: a chunk at ${at} of ${f.payload.length} bytes goes past ${tx.size >= 0n ? `the announced size ${tx.size}` : `${MAX_SAVED_UNKNOWN} bytes (the bound for an unknown size)`}` })
          } else {
            try {
              tx.file.write(f.payload, Number(at))
            } catch (err) {
              tx.file = undefined
              if (!(err instanceof StmpError)) throw err
              sink.event('tx-refused', { txId: f.txId, name: tx.name, code: err.code, message: err.message })
            }
          }
        }
        tx.bytes += f.payload.length
        tx.chunks++
        if (tx.parts !== null) {
          // Kept while this transaction, and all kept together, fit in the message limit.
          if (tx.bytes <= this.ctx.limits.maxMessageSize && this.keptBytes + f.payload.length <= this.ctx.limits.maxMessageSize) {
            tx.parts.push(f.payload)
            this.keptBytes += f.payload.length
          } else this.forget(tx)
        }
        return sink.event('tx-chunk', { txId: f.txId, name: tx.name, offset: Number(f.offset), length: f.payload.length, received: tx.bytes, ...(offset !== 'exact' ? { quirk: offset } : {}) })
      }
      case 'tx-finish': {
        this.ack(f.ack)
        const tx = this.transactions.get(f.txId)
        if (tx === undefined) return sink.event('tx-finish', { txId: f.txId, unknown: true })
        this.transactions.delete(f.txId)
        this.txIn++
        const parts = tx.parts
        this.forget(tx)
        sink.event('tx-finish', { txId: f.txId, name: tx.name, bytes: tx.bytes, chunks: tx.chunks, offByOne: tx.offByOne, misplaced: tx.misplaced, kept: parts !== null })
        if (tx.file !== undefined) {
          tx.file.finish()
          sink.event('tx-saved', { txId: f.txId, name: tx.name, path: tx.file.path, bytes: tx.file.written })
        }
        if (parts === null) return
        const data = Buffer.concat(parts)
        sink.push(`tx:${tx.name}`, data, { format: 'binary', type: 'transaction', txId: f.txId, chunks: tx.chunks, offByOne: tx.offByOne })
        // serve -O pull=echo: what the client pushed is offered back as a pull transaction of the same name.
        if (this.pullEcho && !tx.pull) this.offer(tx.name, bufferSource(data))
        return
      }
      case 'tx-fetch': {
        this.ack(f.ack)
        const o = this.outgoing.get(f.txId)
        const pull = o !== undefined && o.behaviour === BEHAVIOUR.PULL
        const full = pull && o.ranges.length >= MAX_FETCH_RANGES
        sink.event('tx-fetch', { txId: f.txId, start: Number(f.start), end: Number(f.end), ...(pull ? {} : { unknown: true }), ...(full ? { refused: `${MAX_FETCH_RANGES} ranges already waiting` } : {}) })
        if (!pull || full) return
        // Half-open [start, end), clamped to the size; a range that reaches the end finishes the transaction.
        const end = f.end > BigInt(o.source.size) ? o.source.size : Number(f.end)
        const start = f.start > BigInt(end) ? end : Number(f.start)
        o.ranges.push({ pos: start, end })
        return this.pump()
      }
      case 'tx-cancel': {
        this.ack(f.ack)
        const tx = this.transactions.get(f.txId)
        if (tx !== undefined) {
          this.forget(tx)
          tx.file?.abort()
        }
        this.transactions.delete(f.txId)
        // CAMP-Server: a TX_CANCEL also stops an outgoing stream of that id.
        const o = tx === undefined ? this.outgoing.get(f.txId) : undefined
        if (o !== undefined) this.endOutgoing(o, true)
        return sink.event('tx-cancel', { txId: f.txId })
      }
    }
  }

  /** Stops keeping a transaction's data (it is delivered as events only). */
  private forget(tx: Incoming): void {
    if (tx.parts === null) return
    for (const p of tx.parts) this.keptBytes -= p.length
    tx.parts = null
  }

  // ---- sending ----

  /** A data frame whose ACK is the response. */
  request(id: number, action: string, payload: Buffer): void {
    this.sendData(action, payload, id)
  }

  /** Server: the answer to a data frame from the client goes back as a data frame (2xx with a payload) or an ERROR frame. */
  response(id: number, status: number, payload: Buffer): void {
    const kind = this.incoming.get(id)
    if (kind === undefined) return
    this.incoming.delete(id)
    if (status >= 200 && status <= 299) {
      if (payload.length > 0) this.sendData(kind, payload)
      return
    }
    const text = payload.length > 0 ? payload.toString('utf8') : `status ${status}`
    this.send({ kind: 'error', sid: this.sid, ack: this.takeAck(), message: truncateUtf8(text, MAX_PAYLOAD) }, { kind: 'error', sentAt: performance.now() })
  }

  push(_id: number, action: string, payload: Buffer): void {
    this.sendData(action, payload, undefined, action)
  }

  /** The transport drained: queued frames go on, and so do outgoing transactions. */
  drained(): void {
    if (this.queue !== undefined) this.flushQueue()
    if (this.outgoing.size > 0) this.pump()
  }

  /** For serve --stats: CAMP's ack figures and the transactions (ms rounded to microseconds). */
  stats(): Record<string, number | null> {
    const ms = (v: number | null) => v === null ? null : Math.round(v * 1000) / 1000
    return {
      ackTimeouts: this.ackTimeouts,
      ackRtt: ms(this.rtt),
      ackRttAvg: ms(this.rttCount === 0 ? null : this.rttSum / this.rttCount),
      acked: this.rttCount,
      unacked: this.unacked.size,
      txIn: this.txIn,
      txOut: this.txOut,
    }
  }

  // ---- transactions this side sends ----

  /** `save-dir`: the transaction goes to DIR/NAME, or is refused (the event tx-refused) and only received. */
  private openSaved(txId: number, tx: Incoming, dir: string): void {
    const bad = badTxName(tx.name)
    if (bad !== undefined) {
      this.ctx.sink.event('tx-refused', { txId, name: tx.name, code: 'BAD_TX_NAME', message: `not saved: ${bad} cannot be a file in ${dir}` })
      return
    }
    try {
      tx.file = new SavedFile(dir, tx.name)
    } catch (err) {
      if (!(err instanceof StmpError)) throw err
      this.ctx.sink.event('tx-refused', { txId, name: tx.name, code: err.code, message: err.message })
    }
  }

  private nextTx(): number {
    const txId = this.nextTxId
    this.nextTxId = (this.nextTxId + 1) >>> 0
    return txId
  }

  private chunkSize(args: Record<string, unknown>): number {
    return typeof args.chunk === 'number' && args.chunk > 0 ? Math.min(Math.floor(args.chunk), MAX_PAYLOAD) : DEFAULT_CHUNK
  }

  /** A push transaction streamed from `source`: TX_START with the size, chunks as the transport takes them, TX_FINISH, the event tx-sent. */
  private startPush(name: string, source: Source, chunk: number): number {
    const txId = this.nextTx()
    this.send({ kind: 'tx-start', sid: this.sid, ack: this.takeAck(), txId, size: BigInt(source.size), behaviour: BEHAVIOUR.PUSH, name }, { kind: 'tx-start', sentAt: performance.now() })
    this.outgoing.set(txId, { txId, name, behaviour: BEHAVIOUR.PUSH, source, chunk, ranges: [{ pos: 0, end: source.size }], sent: 0, inMemory: false })
    this.pump()
    return txId
  }

  /** A pull transaction: TX_START (pull, with the size); the peer's TX_FETCH ranges are answered from `source`. */
  private offer(name: string, source: Source, chunk = DEFAULT_CHUNK): number | undefined {
    // Offers wait for fetches as long as the connection lasts: bounded in number, and echoes (kept in memory) in bytes.
    const held = [...this.outgoing.values()].reduce((n, o) => n + (o.inMemory ? o.source.size : 0), 0)
    if (this.outgoing.size >= MAX_OPEN_TRANSACTIONS || (source.inMemory === true && held + source.size > this.ctx.limits.maxMessageSize)) {
      source.close()
      this.ctx.sink.event('tx-refused', { name, code: 'TOO_MANY_TRANSACTIONS', message: `not offered: ${this.outgoing.size} transactions of this side open, ${held} bytes of echoes held (at most ${MAX_OPEN_TRANSACTIONS}, ${this.ctx.limits.maxMessageSize} bytes)` })
      return undefined
    }
    const txId = this.nextTx()
    this.send({ kind: 'tx-start', sid: this.sid, ack: this.takeAck(), txId, size: BigInt(source.size), behaviour: BEHAVIOUR.PULL, name }, { kind: 'tx-start', sentAt: performance.now() })
    this.outgoing.set(txId, { txId, name, behaviour: BEHAVIOUR.PULL, source, chunk, ranges: [], sent: 0, inMemory: source.inMemory === true })
    this.ctx.sink.event('tx-offer', { txId, name, size: source.size })
    return txId
  }

  private offerFile(path: string): void {
    let source: Source
    try {
      source = fileSource(path)
    } catch (err) {
      if (!(err instanceof StmpError)) throw err
      this.ctx.sink.event('tx-refused', { name: basename(path), code: err.code, message: err.message })
      return
    }
    this.offer(basename(path), source)
  }

  /** Sends chunks while the session and transport hold less than SEND_HIGH_WATER; drained() (or a 10 ms look) goes on. */
  private pump(): void {
    if (this.pumpTimer !== undefined) clearTimeout(this.pumpTimer)
    this.pumpTimer = undefined
    for (const o of this.outgoing.values()) {
      while (o.ranges.length > 0) {
        if (this.ctx.out.buffered + (this.queue?.queuedBytes ?? 0) >= SEND_HIGH_WATER) {
          this.pumpTimer = setTimeout(() => this.pump(), 10)
          this.pumpTimer.unref()
          return
        }
        const r = o.ranges[0]
        const want = Math.min(o.chunk, r.end - r.pos)
        // The data read straight into its frame (one buffer per chunk, no copy).
        const frame = want > 0 ? chunkFrame(this.sid, o.txId, r.pos, want) : EMPTY
        let got: number
        try {
          got = want > 0 ? o.source.readInto(frame, CHUNK_HEADER, r.pos, want) : 0
        } catch (err) {
          // The file cannot be read any more (EIO, ...): the transaction is cancelled, the connection goes on.
          this.ctx.sink.event('tx-refused', { txId: o.txId, name: o.name, code: 'BAD_FILE', message: `reading at ${r.pos}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` })
          this.endOutgoing(o, true)
          break
        }
        if (got === 0) {
          // The range is done (or the file ended early): a push, or a pull range reaching the end, finishes.
          o.ranges.shift()
          if (o.behaviour === BEHAVIOUR.PUSH || r.end >= o.source.size || r.pos < r.end) {
            this.endOutgoing(o, false)
            break
          }
          continue
        }
        const bytes = got === want ? frame : frame.subarray(0, CHUNK_HEADER + got)
        this.send({ kind: 'tx-chunk', sid: this.sid, txId: o.txId, offset: BigInt(r.pos), payload: bytes.subarray(CHUNK_HEADER) }, undefined, undefined, undefined, bytes)
        r.pos += got
        o.sent += got
      }
    }
  }

  /** TX_FINISH (or TX_CANCEL when `cancel`), the event tx-sent, the source closed. */
  private endOutgoing(o: Outgoing, cancelled: boolean): void {
    this.outgoing.delete(o.txId)
    o.source.close()
    if (cancelled) this.send({ kind: 'tx-cancel', sid: this.sid, ack: this.takeAck(), txId: o.txId }, { kind: 'tx-cancel', sentAt: performance.now() })
    else this.send({ kind: 'tx-finish', sid: this.sid, ack: this.takeAck(), txId: o.txId }, { kind: 'tx-finish', sentAt: performance.now() })
    if (!cancelled) this.txOut++
    this.ctx.sink.event('tx-sent', { txId: o.txId, name: o.name, bytes: o.sent, size: o.source.size, behaviour: o.behaviour === BEHAVIOUR.PULL ? 'pull' : 'push', ...(cancelled ? { cancelled: true } : {}) })
  }

  private flushQueue(): void {
    const q = this.queue as SendQueue
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    // As CAMP-Server's try_flush: while frames wait, look again every 5 ms (and at every drain).
    if (q.flush()) {
      this.retryTimer = setTimeout(() => this.flushQueue(), 5)
      this.retryTimer.unref()
    }
  }

  private onDropped(item: Queued, why: string): void {
    const sink = this.ctx.sink
    let id: number | undefined
    if (item.ack !== undefined) {
      id = this.unacked.get(item.ack)?.id
      this.unacked.delete(item.ack)
    }
    sink.event('dropped', { kind: item.kind, ...(item.ack !== undefined ? { ack: item.ack } : {}), ...(item.key !== undefined ? { key: item.key } : {}), why, count: (this.queue as SendQueue).dropped })
    if (id !== undefined) sink.response(id, 503, Buffer.from(`${item.kind} frame (ack ${item.ack}) dropped: ${why}`, 'utf8'), { format: 'binary', type: 'dropped' })
  }

  ping(id: number): void {
    this.pings.push(id)
    this.send({ kind: 'ping', sid: this.sid })
  }

  pong(): void {
    this.send({ kind: 'pong', sid: this.sid })
  }

  /**
   * A clean close (1000, 1001) is a BYE: a client waits for its ACK (then the WebSocket closes
   * with 4000), a server closes right behind it as CAMP-Server does. Any other close, and the
   * answer to the peer's BYE, is the WebSocket close frame alone (endArgs: 4000-4002).
   */
  close(code: number, message: string, answer: boolean): CloseAction {
    // A push still streaming is cancelled (TX_CANCEL before the BYE); pull offers just end.
    for (const o of [...this.outgoing.values()]) {
      if (o.behaviour === BEHAVIOUR.PUSH || o.ranges.length > 0) this.endOutgoing(o, true)
      else {
        this.outgoing.delete(o.txId)
        o.source.close()
      }
    }
    // Nothing queued is lost to the close: it all goes out before the BYE (or the close frame).
    this.queue?.drain()
    if (answer || (code !== 1000 && code !== 1001)) {
      this.trace('out', { kind: 'close', status: campCloseCode(code, this.ctx.role), message })
      return 'transport'
    }
    const ack = this.takeAck()
    const reason = truncateUtf8(message || 'disconnect', MAX_PAYLOAD)
    this.send({ kind: 'bye', sid: this.sid, ack, reason }, { kind: 'bye', sentAt: performance.now(), bye: this.server ? undefined : reason })
    return this.server ? 'transport' : 'frame'
  }

  endArgs(code: number, message: string): [number?, string?] {
    return [campCloseCode(code, this.ctx.role), message]
  }

  /** The WebSocket close code the peer sent, in stmpcat's codes. */
  closeCodeIn(code: number): number {
    return stmpCloseCode(code)
  }

  /**
   * `tx-send` {name, payload, chunk?}: a push transaction (TX_START with the size, TX_CHUNKs of
   * `chunk` bytes at their true offsets, TX_FINISH). `error` {message}: an ERROR frame.
   */
  command(name: string, args: Record<string, unknown>): void {
    if (name === 'error') {
      const message = typeof args.message === 'string' ? args.message : ''
      this.send({ kind: 'error', sid: this.sid, ack: this.takeAck(), message: truncateUtf8(message, MAX_PAYLOAD) }, { kind: 'error', sentAt: performance.now() })
      return
    }
    const txName = typeof args.name === 'string' && args.name !== '' ? truncateUtf8(args.name, MAX_PAYLOAD) : 'anonymous'
    if (name === 'tx-send-file') {
      if (typeof args.path !== 'string' || args.path === '') throw new StmpError('BAD_INPUT', 'tx-send-file needs {"path": FILE}')
      this.startPush(typeof args.name === 'string' && args.name !== '' ? txName : basename(args.path), fileSource(args.path), this.chunkSize(args))
      return
    }
    if (name === 'tx-offer') {
      if (typeof args.path === 'string' && args.path !== '') {
        this.offer(typeof args.name === 'string' && args.name !== '' ? txName : basename(args.path), fileSource(args.path), this.chunkSize(args))
      } else this.offer(txName, bufferSource(toBuffer(args.payload)), this.chunkSize(args))
      return
    }
    if (name === 'tx-fetch') {
      const txId = Number(args.txId)
      if (!Number.isInteger(txId) || txId < 0 || txId > 0xffffffff) throw new StmpError('BAD_INPUT', 'tx-fetch needs {"txId": N} (the txId of a tx-start event), and optionally start and end')
      const tx = this.transactions.get(txId)
      const start = args.start === undefined ? 0 : Number(args.start)
      const end = args.end === undefined ? (tx !== undefined && tx.size >= 0n ? Number(tx.size) : NaN) : Number(args.end)
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
        throw new StmpError('BAD_INPUT', `tx-fetch ${txId}: start and end are byte offsets, 0 <= start <= end${args.end === undefined ? ' (no end given and no size known for that transaction)' : ''}`)
      }
      this.send({ kind: 'tx-fetch', sid: this.sid, ack: this.takeAck(), txId, start: BigInt(start), end: BigInt(end) }, { kind: 'tx-fetch', sentAt: performance.now() })
      return
    }
    if (name === 'tx-send') {
      const payload = toBuffer(args.payload)
      const chunk = typeof args.chunk === 'number' && args.chunk > 0 ? Math.min(args.chunk, MAX_PAYLOAD) : Math.min(this.ctx.fragmentSize || 64 * 1024, MAX_PAYLOAD)
      const txId = this.nextTx()
      this.send({ kind: 'tx-start', sid: this.sid, ack: this.takeAck(), txId, size: BigInt(payload.length), behaviour: BEHAVIOUR.PUSH, name: txName }, { kind: 'tx-start', sentAt: performance.now() })
      for (let at = 0; at < payload.length; at += chunk) {
        this.send({ kind: 'tx-chunk', sid: this.sid, txId, offset: BigInt(at), payload: payload.subarray(at, at + chunk) })
      }
      this.send({ kind: 'tx-finish', sid: this.sid, ack: this.takeAck(), txId }, { kind: 'tx-finish', sentAt: performance.now() })
      return
    }
    throw new StmpError('BAD_INPUT', `CAMP has no ${name} (its commands: tx-send, tx-send-file, tx-offer, tx-fetch, error)`)
  }

  reset(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    if (this.pumpTimer !== undefined) clearTimeout(this.pumpTimer)
    this.pumpTimer = undefined
    for (const o of this.outgoing.values()) o.source.close()
    this.outgoing.clear()
    // A transaction cut by the end of the connection leaves no partial file behind.
    for (const tx of this.transactions.values()) tx.file?.abort()
    this.queue?.clear()
    if (this.registered) liveSids.delete(this.sid)
    this.registered = false
    this.clearAckTimer()
    this.unacked.clear()
    this.incoming.clear()
    this.transactions.clear()
    this.keptBytes = 0
    this.pings.length = 0
  }

  // ---- helpers ----

  /**
   * The data frame for an action: `utf8`/`text` UTF8DATA, `binary`/`bin` BINARYDATA; any other
   * action by the content type (JSON and text UTF8DATA, others BINARYDATA).
   */
  private dataKind(action: string, payload: Buffer): DataKind {
    if (action === 'utf8' || action === 'text') return 'utf8'
    if (action === 'binary' || action === 'bin') return 'binary'
    const ct = this.ctx.options.contentType
    const textual = ct === undefined || ct === 'application/json' || ct.startsWith('text/')
    return textual && isUtf8(payload) ? 'utf8' : 'binary'
  }

  private sendData(action: string, payload: Buffer, id?: number, key?: string): void {
    if (payload.length > MAX_PAYLOAD) {
      throw new StmpError('BAD_PAYLOAD', `a CAMP data frame carries at most ${MAX_PAYLOAD} bytes (CAMP_MAX_PAYLOAD); this payload is ${payload.length} (send it as a transaction: tx-send)`)
    }
    const kind = this.dataKind(action, payload)
    const ack = this.takeAck()
    // camp-protocol's Utf8DataFrame writes "null" for an empty text.
    const body = kind === 'utf8' && payload.length === 0 ? NULL_TEXT : payload
    this.send({ kind, sid: this.sid, ack, payload: body }, { kind, sentAt: performance.now(), id }, id, key)
  }

  private takeAck(): number {
    const n = this.nextAck
    this.nextAck = (n + 1) >>> 0
    return n
  }

  private ack(n: number): void {
    this.send({ kind: 'ack', sid: this.sid, acked: n })
  }

  /** `encoded`: the frame's bytes, built already (a TX_CHUNK read into its frame). */
  private send(f: Frame, track?: Unacked, id?: number, key?: string, encoded?: Buffer): void {
    if (track !== undefined && 'ack' in f) this.track(f.ack, track)
    if (this.ctx.sink.tracing) this.ctx.sink.trace('out', f.kind === 'utf8' || f.kind === 'binary' ? dataTrace(f, id !== undefined ? 'request' : 'push', id ?? 0) : traceOf(f))
    const bytes = encoded ?? encodeFrame(f)
    if (this.queue === undefined) return this.ctx.out.write(bytes, false)
    const keep = f.kind.startsWith('tx-') || f.kind === 'bye' || f.kind === 'endpoint-info'
    this.queue.enqueue({ bytes, keep, key, ack: track !== undefined && 'ack' in f ? f.ack : undefined, kind: f.kind })
    if (this.queue.waiting && this.retryTimer === undefined) this.flushQueue()
  }

  private track(ack: number, entry: Unacked): void {
    if (this.unacked.size >= MAX_UNACKED) {
      const [oldest, e] = this.unacked.entries().next().value as [number, Unacked]
      this.giveUp(oldest, e, 'too many frames waiting for their ACK')
    }
    this.unacked.set(ack, entry)
    if (this.ackTimer === undefined) this.armAckTimer(this.ackTimeout)
  }

  private armAckTimer(ms: number): void {
    this.ackTimer = setTimeout(() => this.sweep(), Math.max(1, Math.ceil(ms)))
    this.ackTimer.unref()
  }

  private clearAckTimer(): void {
    if (this.ackTimer !== undefined) clearTimeout(this.ackTimer)
    this.ackTimer = undefined
  }

  /** Frames unacknowledged for ackTimeout ms are given up (sent in order: the oldest are first). */
  private sweep(): void {
    this.ackTimer = undefined
    const now = performance.now() + 1
    for (const [ack, e] of this.unacked) {
      const due = e.sentAt + this.ackTimeout
      if (due > now) {
        this.armAckTimer(due - now)
        return
      }
      this.giveUp(ack, e, `no ACK within ${this.ackTimeout} ms`)
    }
  }

  private giveUp(ack: number, e: Unacked, why: string): void {
    this.unacked.delete(ack)
    this.ackTimeouts++
    const sink = this.ctx.sink
    sink.event('ack-timeout', { ack, kind: e.kind, ms: Math.round(performance.now() - e.sentAt), count: this.ackTimeouts })
    if (e.id !== undefined) sink.response(e.id, 504, Buffer.from(`${e.kind} frame (ack ${ack}): ${why}`, 'utf8'), { format: 'binary', type: 'ack-timeout', ack })
    else if (e.bye !== undefined) sink.close(1000, e.bye)
  }

  private incomingId(): number {
    this.nextIncomingId = nextIncomingId(this.incoming, this.nextIncomingId, 'data frames')
    return this.nextIncomingId
  }

  private peerPingId(): number {
    this.nextPeerPing = (this.nextPeerPing + 1) % 0x10000
    return PEER_PING_BASE + this.nextPeerPing
  }

  private trace(direction: 'in' | 'out', frame: TraceFrame & Record<string, unknown>): void {
    if (this.ctx.sink.tracing) this.ctx.sink.trace(direction, frame)
  }
}

const NULL_TEXT = Buffer.from('null', 'utf8')

/**
 * Where a chunk is, given the bytes and chunks before it: `exact`, `off-by-one` (CAMP-Server's
 * push offsets: `offset++` per chunk on top of the bytes, wire notes §4), or `misplaced`.
 */
export function chunkOffset(offset: bigint, bytesBefore: number, chunksBefore: number): 'exact' | 'off-by-one' | 'misplaced' {
  if (offset === BigInt(bytesBefore)) return 'exact'
  if (chunksBefore > 0 && offset === BigInt(bytesBefore + chunksBefore)) return 'off-by-one'
  return 'misplaced'
}

/** A frame for traces (-v, --log): its kind and fields, numbers as numbers, the sid in hex. */
export function traceOf(f: Frame): TraceFrame & Record<string, unknown> {
  const sid = f.sid.toString(16).padStart(16, '0')
  switch (f.kind) {
    case 'utf8':
    case 'binary':
      return { kind: f.kind, ack: f.ack, payload: f.payload, sid }
    case 'endpoint-info':
      return { kind: f.kind, ack: f.ack, version: f.version, flags: Number(f.flags & 0xffffffffn), sid }
    case 'tx-start':
      return { kind: f.kind, ack: f.ack, txId: f.txId, size: Number(f.size), behaviour: f.behaviour === BEHAVIOUR.PULL ? 'pull' : 'push', name: f.name, sid }
    case 'tx-chunk':
      // The length only: a trace (serve --log) of a large transaction does not hold its data.
      return { kind: f.kind, txId: f.txId, offset: Number(f.offset), length: f.payload.length, sid }
    case 'tx-fetch':
      return { kind: f.kind, ack: f.ack, txId: f.txId, start: Number(f.start), end: Number(f.end), sid }
    default: {
      const { sid: _s, ...rest } = f
      return { ...rest, sid }
    }
  }
}

/** A data frame as the session's traces show messages: a request (its ACK answers it) or a push, action utf8/binary. */
function dataTrace(f: Extract<Frame, { kind: 'utf8' | 'binary' }>, kind: 'request' | 'push', id: number): TraceFrame & Record<string, unknown> {
  return { kind, id, action: f.kind, payload: f.payload, follow: false, fin: false, ack: f.ack, sid: f.sid.toString(16).padStart(16, '0') }
}

function truncateUtf8(text: string, max: number): string {
  let t = text
  while (Buffer.byteLength(t) > max) t = t.slice(0, Math.max(0, t.length - Math.ceil((Buffer.byteLength(t) - max) / 4) - 1))
  return t
}

function toBuffer(p: unknown): Buffer {
  if (Buffer.isBuffer(p)) return p
  if (typeof p === 'string') return Buffer.from(p, 'utf8')
  if (p === undefined || p === null) return EMPTY
  return Buffer.from(JSON.stringify(p), 'utf8')
}
