import type { WebSocket } from 'ws'

/**
 * A raw WebSocket client (the `ws` library, a real socket) for tests that check a server's bytes:
 * every message it receives, in order, and how it closed. It listens before 'open', so a server's
 * first message right behind the 101 is kept.
 */
export class RawWsClient {
  readonly received: Buffer[] = []
  closed?: { code: number; reason: string }
  private waiters: (() => void)[] = []

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => { this.received.push(data); this.wake() })
    ws.on('close', (code: number, reason: Buffer) => { this.closed = { code, reason: reason.toString('utf8') }; this.wake() })
  }

  /** Waits until `n` messages have arrived (or the connection closed), at most 3 s. */
  async frames(n: number): Promise<Buffer[]> {
    await this.until(() => this.received.length >= n || this.closed !== undefined)
    return this.received
  }

  async close(): Promise<{ code: number; reason: string }> {
    await this.until(() => this.closed !== undefined)
    return this.closed as { code: number; reason: string }
  }

  /** Resolves once the socket is open (rejects on its error). */
  opened(): Promise<void> {
    return new Promise<void>((resolve, reject) => { this.ws.once('open', () => resolve()); this.ws.once('error', reject) })
  }

  private async until(done: () => boolean): Promise<void> {
    const deadline = Date.now() + 3000
    while (!done() && Date.now() < deadline) await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, 50) })
  }

  private wake(): void { for (const w of this.waiters.splice(0)) w() }
}
