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
  /**
   * The connection is gone; `code`/`reason` from a WebSocket close frame when there was one;
   * `unflushed`: bytes written to the transport that never reached the kernel (cut with them queued).
   */
  onClose(info: TransportCloseInfo): void
}

export interface TransportCloseInfo {
  code?: number
  reason?: string
  error?: Error
  unflushed?: number
}

/** Bytes a WebSocket transport keeps for its session before attach() (then it stops reading). */
const EARLY_LIMIT = 1 << 20

/** How long end() waits for the peer to close its side once the queued bytes stop moving. */
const END_TIMEOUT = 2000

/**
 * After end(): cuts the connection (`cut`) once END_TIMEOUT passes with no bytes leaving the
 * write queue. A slow reader that is still taking bytes is not cut mid-message; one that
 * takes nothing (or never closes its side) is (wire notes §6).
 */
function cutWhenStalled(buffered: () => number, gone: () => boolean, cut: () => void): void {
  let last = buffered()
  const check = () => {
    if (gone()) return
    const now = buffered()
    if (now > 0 && now !== last) {
      last = now
      setTimeout(check, END_TIMEOUT).unref()
      return
    }
    cut()
  }
  setTimeout(check, END_TIMEOUT).unref()
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
  /** The socket was cut (destroyed or failed): what it still had queued is counted in `unflushed`. */
  private cut = false
  /** Bytes written that never reached the kernel: queued when the socket was cut, or written after. */
  private unflushed = 0
  private error: Error | undefined

  /**
   * Until attach() the socket stays paused (no 'data' listener), so bytes wait in it; its error
   * is listened to from here on, so a reset before attach() is reported there, not thrown.
   */
  constructor(private readonly socket: Socket, label?: string) {
    this.remote = label ?? `${socket.remoteAddress}:${socket.remotePort}`
    this.local = `${socket.localAddress}:${socket.localPort}`
    socket.setNoDelay(true)
    socket.on('error', (err) => {
      this.error = err
      this.noteUnflushed()
    })
  }

  attach(handlers: TransportHandlers): void {
    this.handlers = handlers
    this.socket.on('data', (chunk: Buffer) => handlers.onData(chunk, false))
    this.socket.on('drain', () => handlers.onDrain())
    const onClose = () => {
      if (this.closed) return
      this.closed = true
      handlers.onClose({ error: this.error, unflushed: this.unflushed })
    }
    this.socket.on('close', onClose)
    // Reset before attach: its 'close' may have fired already.
    if (this.socket.closed) setImmediate(onClose)
    // A half-closed peer (FIN) gets our FIN back once our queued writes are out.
    this.socket.on('end', () => this.socket.end())
  }

  write(data: Buffer): boolean {
    if (this.closed || this.socket.destroyed) {
      this.unflushed += data.length
      return false
    }
    return this.socket.write(data)
  }

  writev(data: Buffer[]): boolean {
    if (this.closed || this.socket.destroyed) {
      for (const d of data) this.unflushed += d.length
      return false
    }
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
    // The FIN goes out after every queued byte.
    this.socket.end()
    // Bounded: a peer that never closes its side is cut after a short wait (wire notes §6).
    cutWhenStalled(() => this.socket.writableLength, () => this.closed, () => this.destroy())
  }

  destroy(error?: Error): void {
    this.noteUnflushed()
    this.socket.destroy(error)
    void this.handlers
  }

  /** The socket forgets its queue once destroyed: remember how much was lost with it. */
  private noteUnflushed(): void {
    if (this.cut || this.closed) return
    this.cut = true
    this.unflushed += this.socket.writableLength
  }
}

export class WebSocketTransport implements Transport {
  readonly framing = 'websocket' as const
  readonly remote: string
  readonly local: string
  private readonly socket: Socket
  private cut = false
  /** Bytes sent that never reached the kernel: queued when the connection was cut, or sent after it closed. */
  private unflushed = 0

  /** Handlers once attached; until then messages and the close are kept in `early`. */
  private handlers: TransportHandlers | undefined
  /** What arrived between the upgrade and attach() (a server speaking first): replayed in order. */
  private early: Array<{ data: Buffer; text: boolean } | { close: TransportCloseInfo }> | undefined = []
  private earlyBytes = 0
  private error: Error | undefined

  /**
   * Listens from the upgrade on, not from attach(): a peer that speaks first (a server's
   * handshake message in the same TCP segment as its 101 answer) would otherwise be lost while the
   * session is set up. At most EARLY_LIMIT bytes are kept: a peer that floods before attach() is
   * paused (ws stops reading) until then.
   */
  constructor(private readonly ws: WebSocket, socket: Socket, label?: string) {
    this.socket = socket
    this.remote = label ?? `${socket.remoteAddress}:${socket.remotePort}`
    this.local = `${socket.localAddress}:${socket.localPort}`
    socket.setNoDelay(true)
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.handlers) return this.handlers.onData(data, !isBinary)
      this.early?.push({ data, text: !isBinary })
      this.earlyBytes += data.length
      if (this.earlyBytes > EARLY_LIMIT) ws.pause()
    })
    ws.on('error', (err) => {
      this.error = err
      this.noteUnflushed()
    })
    socket.on('error', () => this.noteUnflushed())
    ws.on('close', (code: number, reason: Buffer) => {
      const info = { code, reason: reason.toString('utf8'), error: this.error, unflushed: this.unflushed }
      if (this.handlers) this.handlers.onClose(info)
      else this.early?.push({ close: info })
    })
  }

  attach(handlers: TransportHandlers): void {
    this.socket.on('drain', () => handlers.onDrain())
    const early = this.early ?? []
    this.early = undefined
    // Replayed before live events can run: everything here is synchronous.
    for (const e of early) {
      if ('close' in e) { this.handlers = handlers; handlers.onClose(e.close); return }
      handlers.onData(e.data, e.text)
    }
    this.handlers = handlers
    if (this.earlyBytes > EARLY_LIMIT) this.ws.resume()
  }

  write(data: Buffer, text = false): boolean {
    if (this.ws.readyState !== this.ws.OPEN) {
      this.unflushed += data.length
      return false
    }
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
    // ws sends the close frame behind every message already queued.
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, truncateReason(reason))
    cutWhenStalled(() => this.ws.bufferedAmount, () => this.ws.readyState === this.ws.CLOSED, () => this.destroy())
  }

  destroy(): void {
    this.noteUnflushed()
    this.ws.terminate()
  }

  private noteUnflushed(): void {
    if (this.cut || this.ws.readyState === this.ws.CLOSED) return
    this.cut = true
    this.unflushed += this.ws.bufferedAmount
  }
}

/** A WebSocket close reason is at most 123 bytes (RFC 6455 §5.5). */
export function truncateReason(reason: string): string {
  let r = reason
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1)
  return r
}
