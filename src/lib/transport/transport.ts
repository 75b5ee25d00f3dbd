import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

/**
 * A connection as the session sees it: bytes on a stream transport (tcp, tls, unix), or whole
 * messages on WebSocket (one STMP frame per message, the opcode telling binary from text).
 * The session never touches a socket directly: it talks to this narrow interface
 * (style.md: "Time and I/O hide behind narrow interfaces").
 */
export interface TransportHandlers {
  /** Stream bytes, or one WebSocket message (`text` true for a text message). */
  onData(data: Buffer, text: boolean): void
  /** The write buffer went below the high-water mark. */
  onDrain(): void
  /** The connection is gone; `code`/`reason` from a WebSocket close frame when there was one. */
  onClose(info: { code?: number; reason?: string; error?: Error }): void
}

export interface Transport {
  readonly framing: 'stream' | 'websocket'
  /** `ip:port` of the peer, or the socket path for unix. */
  readonly remote: string
  readonly local: string
  attach(handlers: TransportHandlers): void
  /** Writes stream bytes, or sends one message. Returns false when over the high-water mark. */
  write(data: Buffer, text?: boolean): boolean
  /** Several buffers at once (one syscall where the transport allows). */
  writev(data: Buffer[]): boolean
  /** Bytes queued but not yet handed to the kernel. */
  readonly bufferedAmount: number
  /**
   * Optional: hold writes until uncork() and hand them to the kernel in one writev. A session
   * corks a WebSocket while it produces several messages in one tick (one syscall, not one per
   * message). Calls nest.
   */
  cork?(): void
  uncork?(): void
  pause(): void
  resume(): void
  /** Graceful end: the stream's FIN, or a WebSocket close frame with code and reason. */
  end(code?: number, reason?: string): void
  destroy(error?: Error): void
}

export class StreamTransport implements Transport {
  readonly framing = 'stream' as const
  readonly remote: string
  readonly local: string
  private handlers?: TransportHandlers
  private closed = false

  constructor(private readonly socket: Socket, label?: string) {
    this.remote = label ?? `${socket.remoteAddress}:${socket.remotePort}`
    this.local = `${socket.localAddress}:${socket.localPort}`
    socket.setNoDelay(true)
  }

  attach(handlers: TransportHandlers): void {
    this.handlers = handlers
    this.socket.on('data', (chunk: Buffer) => handlers.onData(chunk, false))
    this.socket.on('drain', () => handlers.onDrain())
    let error: Error | undefined
    this.socket.on('error', (err) => { error = err })
    this.socket.on('close', () => {
      this.closed = true
      handlers.onClose({ error })
    })
    // A half-closed peer (FIN) gets our FIN back once our queued writes are out.
    this.socket.on('end', () => this.socket.end())
  }

  write(data: Buffer): boolean {
    if (this.closed || this.socket.destroyed) return false
    return this.socket.write(data)
  }

  writev(data: Buffer[]): boolean {
    if (this.closed || this.socket.destroyed) return false
    this.socket.cork()
    for (const d of data) this.socket.write(d)
    this.socket.uncork()
    return this.socket.writableLength < this.socket.writableHighWaterMark
  }

  get bufferedAmount(): number {
    return this.socket.writableLength
  }

  pause(): void {
    this.socket.pause()
  }

  resume(): void {
    this.socket.resume()
  }

  end(): void {
    this.socket.end()
    // Bounded: a peer that never closes its side is cut after a short wait (wire notes §6).
    setTimeout(() => this.socket.destroy(), 2000).unref()
  }

  destroy(error?: Error): void {
    this.socket.destroy(error)
    void this.handlers
  }
}

export class WebSocketTransport implements Transport {
  readonly framing = 'websocket' as const
  readonly remote: string
  readonly local: string
  private readonly socket: Socket

  constructor(private readonly ws: WebSocket, socket: Socket, label?: string) {
    this.socket = socket
    this.remote = label ?? `${socket.remoteAddress}:${socket.remotePort}`
    this.local = `${socket.localAddress}:${socket.localPort}`
    socket.setNoDelay(true)
  }

  attach(handlers: TransportHandlers): void {
    this.ws.on('message', (data: Buffer, isBinary: boolean) => handlers.onData(data, !isBinary))
    this.socket.on('drain', () => handlers.onDrain())
    let error: Error | undefined
    this.ws.on('error', (err) => { error = err })
    this.ws.on('close', (code: number, reason: Buffer) => handlers.onClose({ code, reason: reason.toString('utf8'), error }))
  }

  write(data: Buffer, text = false): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false
    this.ws.send(data, { binary: !text })
    return this.socket.writableLength < this.socket.writableHighWaterMark
  }

  writev(data: Buffer[]): boolean {
    this.socket.cork()
    let ok = true
    for (const d of data) ok = this.write(d)
    this.socket.uncork()
    return ok
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount
  }

  cork(): void {
    this.socket.cork()
  }

  uncork(): void {
    this.socket.uncork()
  }

  pause(): void {
    this.ws.pause()
  }

  resume(): void {
    this.ws.resume()
  }

  end(code = 1000, reason = ''): void {
    // On WebSocket the WebSocket close frame replaces the STMP Close frame (wire notes §6).
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, truncateReason(reason))
    setTimeout(() => this.ws.terminate(), 2000).unref()
  }

  destroy(): void {
    this.ws.terminate()
  }
}

/** A WebSocket close reason is at most 123 bytes (RFC 6455 §5.5). */
export function truncateReason(reason: string): string {
  let r = reason
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1)
  return r
}
