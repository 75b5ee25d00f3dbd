/**
 * What crosses between the main thread and the decode workers of `parallel.ts`: capture events
 * packed into batches. The hot event, `data` (one per TCP segment), is packed into typed arrays
 * and one Buffer of bytes (transferred, not cloned); the rare ones (open, close, gap, upgrade,
 * WebSocket message, error) go as plain objects.
 *
 * Structured clone would copy the whole ArrayBuffer behind every Buffer view (a view into a 1 MiB
 * read chunk), so nothing here sends a view: bytes are copied into the batch's own Buffer.
 */
import { deserializeError, serializeError, type SerializedError } from '../errors.js'
import type { CaptureSummary, CaptureStmpOptions } from './stmp.js'
import type { CaptureEvent, DataEvent } from './types.js'

/** Fields per record in `Batch.meta`: type (0 data, 1 other), connId, direction (0 client, 1 server), stream offset or index in `others`, byte length. */
export const META_FIELDS = 5
const BATCH_BYTES = 512 * 1024
const BATCH_RECORDS = 8192

/** An event other than `data`, as it crosses to a worker. */
export type PortableEvent = Exclude<CaptureEvent, DataEvent | { type: 'error' }> | (Omit<Extract<CaptureEvent, { type: 'error' }>, 'error'> & { error: SerializedError })

export interface Batch {
  type: 'batch'
  records: number
  meta: Float64Array
  times: BigInt64Array
  bytes: Uint8Array
  others: PortableEvent[]
}

/** The end of the capture: close what is open, send the summary. */
export interface EndMessage {
  type: 'end'
  lastTime: bigint
}

/**
 * The typed arrays of an answered batch, back to the main thread for the next batch. Not its
 * bytes: the worker's decoders keep views into them (the start of a frame or of a fragmented
 * message cut by the batch's end waits there for its rest; a connection's first segments wait
 * for its handshake), and a transferred ArrayBuffer is detached on the side that sent it.
 */
export interface BatchArrays {
  meta: Float64Array
  times: BigInt64Array
}

/**
 * A worker's answer to a batch (or to `end`): its NDJSON output and where each record's lines end
 * in it; the batch's record arrays come back too, for the next batch.
 */
export interface BatchOutput {
  type: 'output'
  chunks: Uint8Array[]
  /** Per record, the end of its lines: a byte count from the start of `chunks`. */
  ends: Float64Array
  arrays?: BatchArrays
  summary?: CaptureSummary
}

/** Output chunks the main thread has copied out, back to the worker that wrote them. */
export interface RecycleMessage {
  type: 'recycle'
  chunks: Uint8Array[]
}

export interface WorkerFailure {
  type: 'error'
  error: SerializedError
}

export interface DecodeWorkerData {
  /** Without `dialects` (functions do not cross to a thread): `dialectNames` names them. */
  options: CaptureStmpOptions
  dialectNames?: string[]
}

/** Builds one batch for one worker. */
export class BatchBuilder {
  records = 0
  private meta: Float64Array = new Float64Array(BATCH_RECORDS * META_FIELDS)
  private times: BigInt64Array = new BigInt64Array(BATCH_RECORDS)
  private bytes = Buffer.allocUnsafeSlow(BATCH_BYTES)
  private used = 0
  private others: PortableEvent[] = []
  /** Record arrays of answered batches, for reuse. */
  private readonly spare: BatchArrays[] = []

  /** The record arrays of a batch the worker has answered: they can be filled again. */
  recycle(arrays: BatchArrays): void {
    if (this.spare.length < 4) this.spare.push(arrays)
  }

  /** Whether a data event of `length` bytes no longer fits (the batch must be sent first). */
  full(length: number): boolean {
    return this.records === BATCH_RECORDS || (this.used + length > this.bytes.length && this.records > 0)
  }

  data(event: DataEvent): void {
    const n = event.bytes.length
    if (this.used + n > this.bytes.length) this.bytes = Buffer.allocUnsafeSlow(Math.max(BATCH_BYTES, n))
    event.bytes.copy(this.bytes, this.used)
    this.used += n
    const at = this.records * META_FIELDS
    this.meta[at] = 0
    this.meta[at + 1] = event.connId
    this.meta[at + 2] = event.direction === 'client' ? 0 : 1
    this.meta[at + 3] = event.streamOffset
    this.meta[at + 4] = n
    this.times[this.records++] = event.time
  }

  other(event: PortableEvent): void {
    const at = this.records * META_FIELDS
    this.meta[at] = 1
    this.meta[at + 3] = this.others.length
    this.others.push(event)
    this.records++
  }

  /** The batch to post (its buffers to transfer), and a fresh builder state. */
  take(): { batch: Batch; transfer: ArrayBuffer[] } {
    const batch: Batch = {
      type: 'batch', records: this.records, meta: this.meta, times: this.times, bytes: this.bytes.subarray(0, this.used), others: this.others,
    }
    const transfer = [this.meta.buffer, this.times.buffer, this.bytes.buffer] as ArrayBuffer[]
    const spare = this.spare.pop()
    this.meta = spare?.meta ?? new Float64Array(BATCH_RECORDS * META_FIELDS)
    this.times = spare?.times ?? new BigInt64Array(BATCH_RECORDS)
    // Always a new one: the worker keeps the bytes it was sent (BatchArrays).
    this.bytes = Buffer.allocUnsafeSlow(BATCH_BYTES)
    this.used = 0
    this.others = []
    this.records = 0
    return { batch, transfer }
  }
}

/** A non-data event in a form structured clone keeps: Buffers copied out of their chunk, the error as plain fields. */
export function portable(event: Exclude<CaptureEvent, DataEvent>): PortableEvent {
  if (event.type === 'error') return { ...event, error: serializeError(event.error) }
  if (event.type === 'ws-message' || event.type === 'ws-control') return { ...event, payload: new Uint8Array(event.payload) as Buffer }
  return event
}

/**
 * A number read from a Float64Array as a small integer where it is one: V8 keeps doubles and small
 * integers apart in object fields, and events whose fields held doubles (unlike the ones the
 * one-thread path makes) made every function downstream slower, about twice over.
 */
const small = (x: number): number => (x <= 0x3fffffff ? x | 0 : x)

/** The worker side: batch records back into capture events, in order. */
export function* unpackBatch(batch: Batch, connections: Map<number, string>): Generator<CaptureEvent> {
  const bytes = Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength)
  let used = 0
  for (let r = 0; r < batch.records; r++) {
    const at = r * META_FIELDS
    if (batch.meta[at] === 0) {
      const connId = small(batch.meta[at + 1])
      const n = small(batch.meta[at + 4])
      const event: DataEvent = {
        type: 'data', connId, connection: connections.get(connId) ?? '', direction: batch.meta[at + 2] === 0 ? 'client' : 'server',
        time: batch.times[r], bytes: bytes.subarray(used, used + n), streamOffset: small(batch.meta[at + 3]),
      }
      used += n
      yield event
      continue
    }
    const other = batch.others[small(batch.meta[at + 3])]
    if (other.type === 'tcp-open') connections.set(other.connId, other.connection)
    if (other.type === 'error') yield { ...other, error: deserializeError(other.error) }
    else if (other.type === 'ws-message' || other.type === 'ws-control') {
      const payload = other.payload as Uint8Array
      yield { ...other, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength) }
    } else yield other
  }
}
