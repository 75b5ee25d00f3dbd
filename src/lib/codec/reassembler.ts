import { StmpProtocolError } from './errors.js'
import type { Limits, MessageFrame } from './types.js'
import { DEFAULT_LIMITS, KIND_CODE } from './types.js'

/**
 * Joins fragmented messages (wire notes §7): FOLLOW/FIN frames per (kind, MESSAGE ID), frames of
 * other messages interleaved. Bounded by maxMessageSize and maxOpenMessages; it never holds more
 * than the limit. Unfragmented frames pass straight through without a copy.
 */
export class Reassembler {
  private readonly limits: Pick<Limits, 'maxMessageSize' | 'maxOpenMessages'>
  private readonly open = new Map<number, { first: MessageFrame; chunks: Buffer[]; size: number }>()

  constructor(limits: Partial<Limits> = {}) {
    this.limits = {
      maxMessageSize: limits.maxMessageSize ?? DEFAULT_LIMITS.maxMessageSize,
      maxOpenMessages: limits.maxOpenMessages ?? DEFAULT_LIMITS.maxOpenMessages,
    }
  }

  /** Open messages now. */
  get size(): number {
    return this.open.size
  }

  /**
   * Takes one frame; returns the whole message when this frame completes one (follow and fin
   * both false on the result), undefined while it is still open. Throws StmpProtocolError.
   */
  push(frame: MessageFrame, offset = 0): MessageFrame | undefined {
    if (!frame.follow && !frame.fin) return frame
    const key = (KIND_CODE[frame.kind] << 16) | frame.id
    const entry = this.open.get(key)
    const details = { kind: frame.kind, messageId: frame.id }
    if (!frame.follow) {
      if (entry) throw new StmpProtocolError('BAD_FRAGMENT', `${frame.kind} ${frame.id} starts again while its fragments are open`, offset, details)
      if (this.open.size >= this.limits.maxOpenMessages) {
        throw new StmpProtocolError('TOO_LARGE', `more than ${this.limits.maxOpenMessages} fragmented messages open`, offset, { ...details, closeCode: 1008 })
      }
      this.check(frame.payload.length, key, offset, details)
      // Copy: the first chunk may be a view into a socket chunk that is not ours to keep.
      this.open.set(key, { first: frame, chunks: [Buffer.from(frame.payload)], size: frame.payload.length })
      return undefined
    }
    if (!entry) throw new StmpProtocolError('BAD_FRAGMENT', `continuation of ${frame.kind} ${frame.id} with nothing to continue`, offset, details)
    entry.size += frame.payload.length
    this.check(entry.size, key, offset, details)
    entry.chunks.push(Buffer.from(frame.payload))
    if (frame.fin) return undefined
    this.open.delete(key)
    return { ...entry.first, payload: Buffer.concat(entry.chunks, entry.size), follow: false, fin: false }
  }

  /** Drops one open message (a frame of it was lost); false when it was not open. */
  drop(kind: MessageFrame['kind'], id: number): boolean {
    return this.open.delete((KIND_CODE[kind] << 16) | id)
  }

  /** Drops every open message (the connection closed). Returns how many were dropped. */
  clear(): number {
    const n = this.open.size
    this.open.clear()
    return n
  }

  private check(size: number, key: number, offset: number, details: { kind: MessageFrame['kind']; messageId: number }): void {
    if (size > this.limits.maxMessageSize) {
      this.open.delete(key)
      throw new StmpProtocolError('TOO_LARGE', `message over the ${this.limits.maxMessageSize}-byte limit`, offset, details)
    }
  }
}
