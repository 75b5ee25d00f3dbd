/**
 * TCP reassembly (RFC 9293): per connection, per direction, bytes in sequence-number order.
 *
 * - A connection is keyed by its 4-tuple. The SYN sender is the client (the SYN+ACK sender the
 *   server); with no SYN seen, the side on a known server port is the server, else the sender of
 *   the first packet is the client.
 * - Positions are stream offsets (numbers, so streams past 4 GiB work); a segment's offset is
 *   the current offset plus the signed 32-bit distance from the next expected sequence number,
 *   which handles the wrap past 2^32.
 * - Retransmitted and overlapping bytes are trimmed; out-of-order segments wait in a bounded
 *   buffer per direction. A hole is declared a `gap` when a FIN or RST arrives, when the buffer
 *   passes `maxOutOfOrderBytes`, or at the end of the capture; data after it goes on with the
 *   right stream offset.
 */
import { StmpError } from '../errors.js'
import { TcpFlag, type IpDatagram, type TcpSegment } from './ip.js'
import {
  CaptureErrorCode,
  type CaptureErrorEvent, type DataEvent, type Direction, type Endpoint, type GapEvent, type TcpCloseEvent, type TcpOpenEvent,
} from './types.js'

export type TcpEvent = TcpOpenEvent | TcpCloseEvent | DataEvent | GapEvent | CaptureErrorEvent

export interface TcpReassemblerOptions {
  /** Out-of-order bytes buffered per direction before the hole is declared a gap (default 16 MiB). */
  maxOutOfOrderBytes?: number
  /** Connections tracked at once (default 100000); packets of more are skipped. */
  maxConnections?: number
  /** Ports that identify the server of a connection whose SYN was not captured. */
  serverPorts?: Iterable<number>
}

export const DEFAULT_MAX_OUT_OF_ORDER_BYTES = 16 * 1024 * 1024
export const DEFAULT_MAX_CONNECTIONS = 100_000

/** Signed distance a - b in 32-bit sequence space (RFC 1982 serial arithmetic). */
export function seqDistance(a: number, b: number): number {
  return (a - b) | 0
}

export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.ip.includes(':') ? `[${endpoint.ip}]:${endpoint.port}` : `${endpoint.ip}:${endpoint.port}`
}

interface PendingSegment {
  offset: number
  bytes: Buffer
}

/** One direction of a connection. */
class HalfStream {
  /** Sequence number of the byte at `offset`; undefined until the first segment or SYN. */
  nextSeq: number | undefined
  /** Stream offset of the next byte to deliver. */
  offset = 0
  isn: number | undefined
  pending: PendingSegment[] = []
  pendingBytes = 0
  finOffset: number | undefined
  finished = false

  constructor(readonly direction: Direction) {}
}

export class TcpConnection {
  readonly halves: Record<Direction, HalfStream> = { client: new HalfStream('client'), server: new HalfStream('server') }
  readonly connection: string
  closed = false

  constructor(readonly connId: number, readonly client: Endpoint, readonly server: Endpoint, readonly sawSyn: boolean) {
    this.connection = `${formatEndpoint(client)} -> ${formatEndpoint(server)}`
  }

  directionOf(src: Endpoint): Direction {
    return src.ip === this.client.ip && src.port === this.client.port ? 'client' : 'server'
  }
}

function tupleKey(a: Endpoint, b: Endpoint): string {
  const ka = `${a.ip}/${a.port}`
  const kb = `${b.ip}/${b.port}`
  return ka < kb ? `${ka}|${kb}` : `${kb}|${ka}`
}

export class TcpReassembler {
  private readonly connections = new Map<string, TcpConnection>()
  private nextConnId = 1
  private readonly maxOutOfOrderBytes: number
  private readonly maxConnections: number
  private readonly serverPorts: Set<number>
  private connectionLimitReported = false

  constructor(private readonly onEvent: (event: TcpEvent) => void, options: TcpReassemblerOptions = {}) {
    this.maxOutOfOrderBytes = options.maxOutOfOrderBytes ?? DEFAULT_MAX_OUT_OF_ORDER_BYTES
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    this.serverPorts = new Set(options.serverPorts ?? [])
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.connections.size
  }

  /**
   * Feeds one segment; returns false when it was dropped because `maxConnections` are open. A
   * segment with no payload and no SYN for an unknown connection (the last ACK after a close, a
   * stray RST) carries nothing and is ignored.
   */
  segment(ip: IpDatagram, tcp: TcpSegment, time: bigint): boolean {
    const src: Endpoint = { ip: ip.src, port: tcp.srcPort }
    const dst: Endpoint = { ip: ip.dst, port: tcp.dstPort }
    const key = tupleKey(src, dst)
    let conn = this.connections.get(key)
    if (conn !== undefined && this.isNewSyn(conn, src, tcp)) {
      this.close(conn, key, 'end', time)
      conn = undefined
    }
    if (conn === undefined) {
      if (!this.opensConnection(tcp)) return true
      conn = this.open(key, src, dst, tcp, time)
      if (conn === undefined) return false
    }
    this.apply(conn, key, conn.directionOf(src), tcp, time)
    return true
  }

  /** The capture ended: declare remaining holes as gaps and close every connection. */
  end(time: bigint): void {
    for (const [key, conn] of [...this.connections]) {
      for (const half of Object.values(conn.halves)) this.flushGaps(conn, half, 'end', time)
      this.close(conn, key, 'end', time)
    }
  }

  /** A SYN (no ACK) with a new ISN on a tuple in use: the port was reused for a new connection. */
  private isNewSyn(conn: TcpConnection, src: Endpoint, tcp: TcpSegment): boolean {
    if ((tcp.flags & (TcpFlag.SYN | TcpFlag.ACK)) !== TcpFlag.SYN) return false
    const half = conn.halves[conn.directionOf(src)]
    return half.isn !== undefined && half.isn !== tcp.seq
  }

  private opensConnection(tcp: TcpSegment): boolean {
    if ((tcp.flags & TcpFlag.RST) !== 0) return false
    return (tcp.flags & TcpFlag.SYN) !== 0 || tcp.payload.length > 0
  }

  private open(key: string, src: Endpoint, dst: Endpoint, tcp: TcpSegment, time: bigint): TcpConnection | undefined {
    const syn = (tcp.flags & TcpFlag.SYN) !== 0
    if (this.connections.size >= this.maxConnections) {
      if (!this.connectionLimitReported) {
        this.connectionLimitReported = true
        const error = new StmpError(CaptureErrorCode.TCP_CONNECTION_LIMIT,
          `more than ${this.maxConnections} TCP connections open at once (maxConnections); packets of further connections are skipped`)
        this.onEvent({ type: 'error', error, code: error.code, fatal: false, time })
      }
      return undefined
    }
    const senderIsClient = this.senderIsClient(src, dst, tcp)
    const client = senderIsClient ? src : dst
    const server = senderIsClient ? dst : src
    const conn = new TcpConnection(this.nextConnId++, client, server, syn)
    this.connections.set(key, conn)
    this.onEvent({ type: 'tcp-open', connId: conn.connId, connection: conn.connection, time, client, server, sawSyn: syn })
    return conn
  }

  private senderIsClient(src: Endpoint, dst: Endpoint, tcp: TcpSegment): boolean {
    if ((tcp.flags & TcpFlag.SYN) !== 0) return (tcp.flags & TcpFlag.ACK) === 0
    const srcIsServer = this.serverPorts.has(src.port)
    const dstIsServer = this.serverPorts.has(dst.port)
    if (srcIsServer !== dstIsServer) return dstIsServer
    return true
  }

  private apply(conn: TcpConnection, key: string, direction: Direction, tcp: TcpSegment, time: bigint): void {
    const half = conn.halves[direction]
    let dataSeq = tcp.seq
    if ((tcp.flags & TcpFlag.SYN) !== 0) {
      // The SYN takes one sequence number; data in a SYN (TCP Fast Open) starts after it.
      dataSeq = (tcp.seq + 1) >>> 0
      if (half.isn === undefined && half.offset === 0 && half.pending.length === 0) {
        half.isn = tcp.seq
        half.nextSeq = dataSeq
      }
    }
    if (half.nextSeq === undefined) half.nextSeq = dataSeq
    const segmentOffset = half.offset + seqDistance(dataSeq, half.nextSeq)
    if (tcp.payload.length > 0 && !half.finished) this.insert(conn, half, segmentOffset, tcp.payload, time)
    if ((tcp.flags & TcpFlag.RST) !== 0) {
      for (const each of Object.values(conn.halves)) this.flushGaps(conn, each, 'rst', time)
      this.close(conn, key, 'rst', time)
      return
    }
    if ((tcp.flags & TcpFlag.FIN) !== 0 && half.finOffset === undefined) {
      half.finOffset = segmentOffset + tcp.payload.length
      this.flushGaps(conn, half, 'fin', time)
    }
    if (half.finOffset !== undefined && half.offset >= half.finOffset) half.finished = true
    if (conn.halves.client.finished && conn.halves.server.finished) this.close(conn, key, 'fin', time)
  }

  private insert(conn: TcpConnection, half: HalfStream, offset: number, bytes: Buffer, time: bigint): void {
    const end = offset + bytes.length
    if (end <= half.offset) return // a retransmission of delivered bytes
    if (offset <= half.offset) {
      this.deliver(conn, half, bytes.subarray(half.offset - offset), time)
      this.drain(conn, half, time)
      return
    }
    this.buffer(half, { offset, bytes: Buffer.from(bytes) })
    if (half.pendingBytes > this.maxOutOfOrderBytes) {
      const error = new StmpError(CaptureErrorCode.TCP_BUFFER_LIMIT,
        `${conn.connection}: more than ${this.maxOutOfOrderBytes} out-of-order bytes from the ${half.direction} (maxOutOfOrderBytes); the missing bytes are reported as a gap`)
      this.onEvent({ type: 'error', error, code: error.code, fatal: false, connId: conn.connId, connection: conn.connection, direction: half.direction, time })
      this.flushGaps(conn, half, 'buffer-limit', time)
    }
  }

  /** Keeps `pending` sorted by offset; segments usually arrive in order, so search from the end. */
  private buffer(half: HalfStream, segment: PendingSegment): void {
    let at = half.pending.length
    while (at > 0 && half.pending[at - 1].offset > segment.offset) at--
    const previous = half.pending[at - 1]
    if (previous !== undefined && previous.offset === segment.offset && previous.bytes.length >= segment.bytes.length) return
    half.pending.splice(at, 0, segment)
    half.pendingBytes += segment.bytes.length
  }

  private deliver(conn: TcpConnection, half: HalfStream, bytes: Buffer, time: bigint): void {
    if (half.finOffset !== undefined) bytes = bytes.subarray(0, Math.max(0, half.finOffset - half.offset))
    if (bytes.length === 0) return
    this.onEvent({
      type: 'data', connId: conn.connId, connection: conn.connection, direction: half.direction, time, bytes, streamOffset: half.offset,
    })
    this.advance(half, bytes.length)
  }

  private advance(half: HalfStream, length: number): void {
    half.offset += length
    half.nextSeq = ((half.nextSeq ?? 0) + length) >>> 0
  }

  /** Delivers buffered segments that are now contiguous, trimming what was already delivered. */
  private drain(conn: TcpConnection, half: HalfStream, time: bigint): void {
    while (half.pending.length > 0 && half.pending[0].offset <= half.offset) {
      const segment = half.pending.shift() as PendingSegment
      half.pendingBytes -= segment.bytes.length
      const end = segment.offset + segment.bytes.length
      if (end > half.offset) this.deliver(conn, half, segment.bytes.subarray(half.offset - segment.offset), time)
    }
  }

  /** Gives up on the holes before buffered data (and, after a FIN, before the FIN). */
  private flushGaps(conn: TcpConnection, half: HalfStream, cause: GapEvent['cause'], time: bigint): void {
    this.drain(conn, half, time)
    while (half.pending.length > 0) {
      this.gap(conn, half, half.pending[0].offset - half.offset, cause, time)
      this.drain(conn, half, time)
    }
    if (half.finOffset !== undefined && half.finOffset > half.offset && cause !== 'end') {
      this.gap(conn, half, half.finOffset - half.offset, cause, time)
    }
  }

  private gap(conn: TcpConnection, half: HalfStream, missing: number, cause: GapEvent['cause'], time: bigint): void {
    this.onEvent({
      type: 'gap', connId: conn.connId, connection: conn.connection, direction: half.direction, time, streamOffset: half.offset, missing, cause,
    })
    this.advance(half, missing)
  }

  private close(conn: TcpConnection, key: string, reason: TcpCloseEvent['reason'], time: bigint): void {
    if (conn.closed) return
    conn.closed = true
    this.connections.delete(key)
    this.onEvent({
      type: 'tcp-close', connId: conn.connId, connection: conn.connection, time, reason,
      clientBytes: conn.halves.client.offset, serverBytes: conn.halves.server.offset,
    })
  }
}
