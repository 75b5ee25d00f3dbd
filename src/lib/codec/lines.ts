import { WireError } from '../errors.js'

/**
 * Splits a byte stream into lines at a terminator (default a newline; a trailing CR is dropped
 * then): fed chunks of any size, calls `onLine(line, offset)` for each whole, non-empty one. A
 * line longer than `maxLine` is TOO_LARGE (thrown). Shared by the line-based dialects (ndjson,
 * sockhop) for live traffic and `decode`. Pure: no I/O.
 */
export class LineSplitter {
  offset = 0
  private held: Buffer[] = []
  private heldBytes = 0
  private readonly terminator: Buffer
  /** stop() was called from onLine: write() returns the bytes after that line. */
  private stopped = false

  constructor(private readonly maxLine: number, private readonly onLine: (line: Buffer, offset: number) => void, terminator = '\n') {
    this.terminator = Buffer.from(terminator, 'utf8')
  }

  get buffered(): number {
    return this.heldBytes
  }

  /**
   * Called from onLine: no more lines after this one (the stream switches to another framing,
   * Sockhop 2.x's binary mode). The write() in progress returns the bytes after the line, the
   * held bytes included; later writes are refused.
   */
  stop(): void {
    this.stopped = true
  }

  /** Returns the bytes after a line that called stop(), else undefined. */
  write(chunk: Buffer): Buffer | undefined {
    if (this.stopped) throw new Error('LineSplitter.write after stop()')
    const t = this.terminator
    const newline = t.length === 1 && t[0] === 0x0a
    let start = 0
    if (this.heldBytes > 0 && t.length > 1) {
      // A multi-byte terminator may straddle chunks: search the held bytes and the chunk together.
      chunk = Buffer.concat([...this.held, chunk])
      this.held = []
      this.heldBytes = 0
    }
    for (let at = chunk.indexOf(t); at !== -1; at = chunk.indexOf(t, start)) {
      let line = chunk.subarray(start, at)
      if (this.heldBytes > 0) {
        line = Buffer.concat([...this.held, line])
        this.held = []
        this.heldBytes = 0
      }
      if (line.length > this.maxLine) throw new WireError('TOO_LARGE', `a line of ${line.length} bytes is over the ${this.maxLine}-byte limit`, this.offset)
      const lineOffset = this.offset
      this.offset += line.length + t.length
      start = at + t.length
      if (newline && line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, -1)
      if (line.length > 0) this.onLine(line, lineOffset)
      if (this.stopped) return chunk.subarray(start)
    }
    if (start < chunk.length) {
      this.held.push(chunk.subarray(start))
      this.heldBytes += chunk.length - start
      if (this.heldBytes > this.maxLine) throw new WireError('TOO_LARGE', `a line of more than ${this.maxLine} bytes (no terminator yet)`, this.offset)
    }
    return undefined
  }

  /**
   * `decode`: feeds one direction's bytes (from stream offset `offset`), reporting a broken line
   * to `onError` instead of throwing.
   */
  feed(data: Buffer, offset: number, onError: ((e: { code: string; message: string; offset: number }) => void) | undefined): Buffer | undefined {
    if (this.offset === 0 && offset > 0) this.offset = offset
    try {
      return this.write(data)
    } catch (err) {
      onError?.({ code: (err as { code?: string }).code ?? 'BAD_MESSAGE', message: (err as Error).message, offset: this.offset })
      return undefined
    }
  }

  /** `decode`: the direction ended; bytes of a line without its terminator are TRUNCATED. */
  end(reason: 'close' | 'end', onError: ((e: { code: string; message: string; offset: number }) => void) | undefined): void {
    if (this.heldBytes > 0) onError?.({ code: 'TRUNCATED', message: `${this.heldBytes} bytes of a line without its terminator (${reason === 'close' ? 'the connection closed' : 'the capture ended'})`, offset: this.offset })
  }
}
