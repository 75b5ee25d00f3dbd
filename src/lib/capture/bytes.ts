/**
 * A queue of input chunks that a streaming parser reads from.
 *
 * The parsers here (pcap, pcapng, WebSocket) are state machines fed chunks of any size. They
 * ask `peek(n)` only once `length >= n`, so a record split over many chunks is copied once, when
 * it is complete, and a record inside one chunk is returned as a view (`subarray`) with no copy
 * (the habit of ws `Receiver.consume`). Memory is bounded by the largest record, not the file.
 */
export class ByteQueue {
  private chunks: Buffer[] = []
  /** Read position inside chunks[0]. */
  private head = 0
  /** Bytes buffered and not yet consumed. */
  length = 0
  /** Bytes consumed since the start: the absolute offset of the next unread byte. */
  consumed = 0

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.length += chunk.length
  }

  /** The next `n` bytes without consuming them; the caller checks `length >= n` first. */
  peek(n: number): Buffer {
    if (n > this.length) throw new RangeError(`peek(${n}) with ${this.length} bytes buffered`)
    if (n === 0) return Buffer.alloc(0)
    const first = this.chunks[0]
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n)
    return this.gather(n)
  }

  /** Copies the first `n` bytes into one buffer and keeps it as the first chunk. */
  private gather(n: number): Buffer {
    const merged = Buffer.allocUnsafe(n)
    let filled = 0
    while (filled < n) {
      const chunk = this.chunks[0]
      const available = chunk.length - this.head
      const want = Math.min(available, n - filled)
      chunk.copy(merged, filled, this.head, this.head + want)
      filled += want
      if (want === available) {
        this.chunks.shift()
        this.head = 0
      } else {
        this.head += want
      }
    }
    const rest = this.chunks[0]
    if (rest !== undefined && this.head > 0) this.chunks[0] = rest.subarray(this.head)
    this.head = 0
    this.chunks.unshift(merged)
    return merged
  }

  /** Drops `n` bytes (at most `length`). */
  skip(n: number): void {
    let left = Math.min(n, this.length)
    this.length -= left
    this.consumed += left
    while (left > 0) {
      const chunk = this.chunks[0]
      const available = chunk.length - this.head
      if (left >= available) {
        this.chunks.shift()
        this.head = 0
        left -= available
      } else {
        this.head += left
        left = 0
      }
    }
  }

  take(n: number): Buffer {
    const out = this.peek(n)
    this.skip(n)
    return out
  }
}
