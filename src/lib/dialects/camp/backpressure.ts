import { StmpError } from '../../errors.js'
import type { DialectOptions } from '../types.js'

/**
 * CAMP-Server's BackpressureManager, as options of a connection (`-O backpressure=PROFILE`, or
 * each value: `-O high-water=BYTES -O low-water=BYTES -O max-queued-bytes=BYTES
 * -O max-queued-frames=N -O drop=drop-oldest|drop-newest|dedupe-latest`). Frames wait in a queue
 * in front of the transport while its buffer is over the high-water mark, and go out again once
 * it is down to the low-water mark; a full queue drops a frame by the policy. Transaction frames
 * (an ordered stream), BYE and ENDPOINT_INFO are never dropped.
 *
 * - `drop-oldest`: the oldest droppable frame in the queue makes room for the new one.
 * - `drop-newest`: the new frame is dropped. (CAMP-Server's sender then waits and retries, so
 *   nothing is lost there; here the frame is dropped and reported.)
 * - `dedupe-latest`: a queued frame with the same key (the push's action) is replaced by the new
 *   one; if the queue is still full, the new frame is dropped. (CAMP-Server sends no key, so there
 *   it only drops the newest.)
 */
export type DropPolicy = 'drop-oldest' | 'drop-newest' | 'dedupe-latest'

export interface BackpressureOptions {
  highWater: number
  lowWater: number
  maxQueuedBytes: number
  maxQueuedFrames: number
  drop: DropPolicy
}

/** CAMP-Server's BACKPRESSURE_PROFILES. */
export const PROFILES: Record<string, BackpressureOptions> = {
  default: { drop: 'drop-oldest', highWater: 4 * 1024 * 1024, lowWater: 1024 * 1024, maxQueuedBytes: 32 * 1024 * 1024, maxQueuedFrames: 4096 },
  optimize_latency: { drop: 'drop-oldest', highWater: 512 * 1024, lowWater: 128 * 1024, maxQueuedBytes: 4 * 1024 * 1024, maxQueuedFrames: 512 },
  optimize_memory: { drop: 'drop-oldest', highWater: 256 * 1024, lowWater: 64 * 1024, maxQueuedBytes: 2 * 1024 * 1024, maxQueuedFrames: 256 },
}

export const BACKPRESSURE_FLAGS = ['backpressure', 'high-water', 'low-water', 'max-queued-bytes', 'max-queued-frames', 'drop'] as const

/** The options, or undefined when none is given (then frames go straight to the transport). Throws BAD_FLAG. */
export function backpressureOptions(options: DialectOptions): BackpressureOptions | undefined {
  if (!BACKPRESSURE_FLAGS.some((k) => options[k] !== undefined)) return undefined
  const profile = options.backpressure === undefined ? 'default' : String(options.backpressure)
  const base = PROFILES[profile]
  if (base === undefined) throw new StmpError('BAD_FLAG', `-O backpressure=${profile}: one of ${Object.keys(PROFILES).join(', ')}`)
  const size = (key: string, fallback: number): number => {
    const v = options[key]
    if (v === undefined) return fallback
    const m = /^(\d+)(k|ki|kib|m|mi|mib)?$/i.exec(String(v).trim())
    if (!m) throw new StmpError('BAD_FLAG', `-O ${key}=${String(v)}: a size in bytes (e.g. 65536, 64k, 4m)`)
    const unit = (m[2] ?? '').toLowerCase()
    return Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1)
  }
  const drop = options.drop === undefined ? base.drop : String(options.drop)
  if (drop !== 'drop-oldest' && drop !== 'drop-newest' && drop !== 'dedupe-latest') throw new StmpError('BAD_FLAG', `-O drop=${drop}: drop-oldest, drop-newest or dedupe-latest`)
  const out: BackpressureOptions = {
    highWater: size('high-water', base.highWater),
    lowWater: size('low-water', base.lowWater),
    maxQueuedBytes: size('max-queued-bytes', base.maxQueuedBytes),
    maxQueuedFrames: size('max-queued-frames', base.maxQueuedFrames),
    drop,
  }
  if (out.lowWater > out.highWater) throw new StmpError('BAD_FLAG', `-O low-water=${out.lowWater} is above high-water=${out.highWater}`)
  if (out.maxQueuedFrames < 1) throw new StmpError('BAD_FLAG', '-O max-queued-frames: at least 1')
  return out
}

export interface Queued {
  bytes: Buffer
  /** Transaction frames, BYE, ENDPOINT_INFO: never dropped. */
  keep: boolean
  /** dedupe-latest: frames with the same key replace each other. */
  key?: string
  /** What the Wire needs to know about a dropped frame (its ack, kind). */
  ack?: number
  kind: string
}

/**
 * The send queue. `write` goes to the transport; `buffered` is what the transport holds.
 * `onDrop` hears of every frame dropped. Pure bookkeeping: the Wire calls `flush` on drain and
 * on a short retry timer while paused.
 */
export class SendQueue {
  private readonly items: Queued[] = []
  private bytes = 0
  private paused = false
  dropped = 0

  constructor(
    readonly options: BackpressureOptions,
    private readonly write: (bytes: Buffer) => void,
    private readonly buffered: () => number,
    private readonly onDrop: (item: Queued, why: string) => void,
  ) {}

  get length(): number {
    return this.items.length
  }

  get queuedBytes(): number {
    return this.bytes
  }

  /** True while frames wait for the transport to drain to the low-water mark. */
  get waiting(): boolean {
    return this.paused || this.items.length > 0
  }

  enqueue(item: Queued): void {
    const o = this.options
    if (o.drop === 'dedupe-latest' && item.key !== undefined && !item.keep) {
      for (let i = this.items.length - 1; i >= 0; i--) {
        if (this.items[i].key === item.key && !this.items[i].keep) {
          this.remove(i, 'replaced by a newer frame with the same key (dedupe-latest)')
          break
        }
      }
    }
    if (!item.keep) {
      while (this.full(item)) {
        if (o.drop !== 'drop-oldest') {
          this.drop(item, `the queue is full (${o.drop})`)
          return
        }
        const victim = this.items.findIndex((q) => !q.keep)
        if (victim === -1) {
          this.drop(item, 'the queue is full of frames that cannot be dropped')
          return
        }
        this.remove(victim, 'the queue is full (drop-oldest)')
      }
    }
    this.items.push(item)
    this.bytes += item.bytes.length
    this.flush()
  }

  /** Sends what the water marks allow; returns whether frames still wait. */
  flush(): boolean {
    const o = this.options
    if (this.paused) {
      if (this.buffered() > o.lowWater) return true
      this.paused = false
    }
    while (this.items.length > 0) {
      const next = this.items[0]
      if (this.buffered() + next.bytes.length >= o.highWater && this.buffered() > 0) {
        this.paused = true
        return true
      }
      this.items.shift()
      this.bytes -= next.bytes.length
      this.write(next.bytes)
    }
    if (this.buffered() >= o.highWater) this.paused = true
    return this.paused
  }

  /** Everything queued goes out now (the connection is closing: nothing queued is lost to it). */
  drain(): void {
    for (const item of this.items.splice(0)) this.write(item.bytes)
    this.bytes = 0
    this.paused = false
  }

  clear(): void {
    this.items.length = 0
    this.bytes = 0
  }

  private full(item: Queued): boolean {
    return this.items.length + 1 > this.options.maxQueuedFrames || this.bytes + item.bytes.length > this.options.maxQueuedBytes
  }

  private remove(i: number, why: string): void {
    const [item] = this.items.splice(i, 1)
    this.bytes -= item.bytes.length
    this.drop(item, why)
  }

  private drop(item: Queued, why: string): void {
    this.dropped++
    this.onDrop(item, why)
  }
}
