/**
 * The capture pipeline: file chunks -> packets (reader.ts) -> link layer (linklayer.ts) -> IP
 * (ip.ts) -> TCP reassembly (tcp.ts) -> per connection either raw stream bytes or an HTTP
 * upgrade and WebSocket messages (websocket.ts). Events come out in capture order through one
 * callback; nothing here does I/O, so `stmpcat decode FILE.pcap` and tests feed the same code.
 *
 * The decoder never throws on bad input: a malformed file becomes a fatal `error` event
 * (BAD_CAPTURE, with the byte offset), after which open connections are closed and further
 * input is ignored.
 */
import { Transform, type TransformCallback } from 'node:stream'
import { StmpError } from '../errors.js'
import { decodeIp, decodeTcp, IpProtocol, type IpDatagram } from './ip.js'
import { decodeLinkLayer } from './linklayer.js'
import { CaptureReader, type CaptureReaderOptions } from './reader.js'
import { TcpReassembler, type TcpEvent, type TcpReassemblerOptions } from './tcp.js'
import type { CaptureEvent, CapturePacket, DataEvent, PacketSkippedEvent } from './types.js'
import { WebSocketSession, type WebSocketOptions } from './websocket.js'

export interface CaptureDecoderOptions extends CaptureReaderOptions, TcpReassemblerOptions, WebSocketOptions {
  /** Look for `GET ` at the start of each connection and decode HTTP upgrade + WebSocket (default true). */
  detectWebSocket?: boolean
}

export interface CaptureStats {
  packets: number
  /** Packets captured shorter than they were sent (the snap length): their TCP bytes past the cut are gaps. */
  cutShort: number
  skipped: Record<PacketSkippedEvent['reason'], number>
  fragments: number
  connections: number
}

/** Bytes that decide whether a connection speaks HTTP: the request method `GET `. */
const HTTP_GET = Buffer.from('GET ')

/** Per connection: undecided until its first client bytes, then raw or HTTP/WebSocket. */
interface ConnectionApp {
  mode: 'undecided' | 'raw' | 'http'
  held: DataEvent[]
  session?: WebSocketSession
}

export class CaptureDecoder {
  readonly stats: CaptureStats = {
    packets: 0, cutShort: 0, skipped: { 'link-type': 0, 'not-ip': 0, 'not-tcp': 0, malformed: 0, 'no-connection': 0 }, fragments: 0, connections: 0,
  }
  private readonly reader: CaptureReader
  private readonly tcp: TcpReassembler
  private readonly apps = new Map<number, ConnectionApp>()
  private lastTime = 0n
  private failed = false
  private ended = false
  private skippedTotal = 0
  private readonly detectWebSocket: boolean

  constructor(private readonly onEvent: (event: CaptureEvent) => void, private readonly options: CaptureDecoderOptions = {}) {
    this.reader = new CaptureReader((packet) => this.packet(packet), options)
    this.tcp = new TcpReassembler((event) => this.tcpEvent(event), options)
    this.detectWebSocket = options.detectWebSocket ?? true
  }

  /** The capture format, once the first 4 bytes are in. */
  get format(): 'pcap' | 'pcapng' | null {
    return this.reader.format
  }

  /** True after a fatal error: further input is ignored. */
  get hasFailed(): boolean {
    return this.failed
  }

  write(chunk: Buffer): void {
    if (this.failed || this.ended) return
    this.guard(() => this.reader.write(chunk))
  }

  end(): void {
    if (this.ended) return
    this.ended = true
    if (!this.failed) this.guard(() => this.reader.end())
    if (!this.failed) this.tcp.end(this.lastTime)
  }

  private guard(run: () => void): void {
    try {
      run()
    } catch (err) {
      if (!(err instanceof StmpError) || err.code !== 'BAD_CAPTURE') throw err
      this.failed = true
      this.onEvent({ type: 'error', error: err, code: err.code, fatal: true, time: this.lastTime })
      this.tcp.end(this.lastTime)
    }
  }

  private packet(packet: CapturePacket): void {
    this.stats.packets++
    if (packet.data.length < packet.originalLength) this.stats.cutShort++
    if (packet.time > this.lastTime) this.lastTime = packet.time
    const link = decodeLinkLayer(packet.linkType, packet.data)
    if ('skip' in link) return this.skip(packet, link.skip, `linktype ${packet.linkType}`)
    const ip = decodeIp(link.ipVersion, link.ip)
    if ('malformed' in ip) return this.skip(packet, 'malformed', ip.malformed)
    if (ip.fragment !== undefined) return this.fragment(packet, ip)
    if (ip.protocol !== IpProtocol.TCP) return this.skip(packet, 'not-tcp', `IP protocol ${ip.protocol}`)
    const tcp = decodeTcp(ip.payload)
    if ('malformed' in tcp) return this.skip(packet, 'malformed', tcp.malformed)
    if (!this.tcp.segment(ip, tcp, packet.time)) this.skip(packet, 'no-connection', `${ip.src}:${tcp.srcPort} -> ${ip.dst}:${tcp.dstPort}`)
  }

  private skip(packet: CapturePacket, reason: PacketSkippedEvent['reason'], detail: string): void {
    this.skippedTotal++
    this.stats.skipped[reason]++
    this.onEvent({
      type: 'packet-skipped', packetIndex: packet.index, time: packet.time, reason,
      skipped: this.skippedTotal, skippedForReason: this.stats.skipped[reason], detail,
    })
  }

  private fragment(packet: CapturePacket, ip: IpDatagram): void {
    const fragment = ip.fragment as NonNullable<IpDatagram['fragment']>
    this.stats.fragments++
    this.onEvent({
      type: 'ip-fragment', packetIndex: packet.index, time: packet.time, ipVersion: ip.version, src: ip.src, dst: ip.dst,
      id: fragment.id, fragmentOffset: fragment.offset, moreFragments: fragment.moreFragments, protocol: ip.protocol, length: ip.payload.length,
    })
  }

  private tcpEvent(event: TcpEvent): void {
    switch (event.type) {
      case 'tcp-open':
        this.stats.connections++
        this.apps.set(event.connId, { mode: this.detectWebSocket ? 'undecided' : 'raw', held: [] })
        return this.onEvent(event)
      case 'data': return this.data(event)
      case 'gap': return this.gap(event)
      case 'tcp-close': return this.close(event)
      default: return this.onEvent(event)
    }
  }

  private appFor(connId: number): ConnectionApp {
    let app = this.apps.get(connId)
    if (app === undefined) {
      app = { mode: 'raw', held: [] }
      this.apps.set(connId, app)
    }
    return app
  }

  private data(event: DataEvent): void {
    const app = this.appFor(event.connId)
    if (app.mode === 'raw') return this.onEvent(event)
    if (app.mode === 'http') return (app.session as WebSocketSession).push(event.direction, event.bytes, event.time, event.streamOffset)
    // STMP and WebSocket clients speak first: server bytes first, or a client start other than `GET `, is raw.
    if (event.direction === 'server') return this.decide(app, event, false)
    app.held.push(event)
    const heldLength = app.held.reduce((n, held) => n + held.bytes.length, 0)
    const start = Buffer.concat(app.held.map((held) => held.bytes), Math.min(HTTP_GET.length, heldLength))
    if (start.length < HTTP_GET.length && HTTP_GET.subarray(0, start.length).equals(start)) return
    this.decide(app, undefined, start.equals(HTTP_GET))
  }

  /** Settles an undecided connection and replays its held bytes (then `next`, if any). */
  private decide(app: ConnectionApp, next: DataEvent | undefined, http: boolean): void {
    const held = app.held
    app.held = []
    if (http && held.length > 0) {
      const first = held[0]
      app.mode = 'http'
      app.session = new WebSocketSession({ connId: first.connId, connection: first.connection }, (event) => this.onEvent(event), this.options)
      for (const each of held) app.session.push(each.direction, each.bytes, each.time, each.streamOffset)
      if (next !== undefined) app.session.push(next.direction, next.bytes, next.time, next.streamOffset)
      return
    }
    app.mode = 'raw'
    for (const each of held) this.onEvent(each)
    if (next !== undefined) this.onEvent(next)
  }

  private gap(event: Extract<TcpEvent, { type: 'gap' }>): void {
    const app = this.appFor(event.connId)
    if (app.mode === 'undecided') this.decide(app, undefined, false)
    this.onEvent(event)
    app.session?.gap(event.direction, event.missing, event.time)
  }

  private close(event: Extract<TcpEvent, { type: 'tcp-close' }>): void {
    const app = this.appFor(event.connId)
    if (app.mode === 'undecided') this.decide(app, undefined, false)
    app.session?.end(event.time, event.reason === 'end')
    this.apps.delete(event.connId)
    this.onEvent(event)
  }
}

/**
 * The pipeline as a Transform: capture file bytes in, CaptureEvent objects out (object mode on
 * the readable side), with the stream's own backpressure.
 */
export function createCaptureStream(options: CaptureDecoderOptions = {}): Transform {
  const stream: Transform = new Transform({
    writableObjectMode: false,
    readableObjectMode: true,
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      decoder.write(chunk)
      callback()
    },
    flush(callback: TransformCallback) {
      decoder.end()
      callback()
    },
  })
  const decoder = new CaptureDecoder((event) => stream.push(event), options)
  return stream
}

/** Decodes a whole capture held in memory (or given as chunks); for tests and small files. */
export function decodeCapture(input: Buffer | Iterable<Buffer>, options: CaptureDecoderOptions = {}): CaptureEvent[] {
  const events: CaptureEvent[] = []
  const decoder = new CaptureDecoder((event) => events.push(event), options)
  for (const chunk of Buffer.isBuffer(input) ? [input] : input) decoder.write(chunk)
  decoder.end()
  return events
}
