/**
 * `decode --json` of a large capture on several cores. The main thread reads packets and
 * reassembles TCP and WebSocket (CaptureDecoder), then shares the connections out by id: some it
 * decodes itself, the rest go to worker threads (capture-parallel-worker.ts); each side decodes STMP and
 * writes NDJSON lines for its connections, and the main thread puts all the lines back in capture
 * order. The output is the same bytes as the one-thread path (tested on every fixture capture).
 *
 * Order: each event takes the next place in `route`, naming the lane (main or a worker) that
 * handles it; every lane answers each batch of events with its lines and where each event's lines
 * end, so the lines of place k are copied out once every place before k has been.
 *
 * Memory: at most MAX_IN_FLIGHT batches per worker are unanswered; reading waits beyond that and
 * while stdout asks to drain. Batch record arrays and output buffers go back and forth instead of
 * being allocated anew (a batch's bytes stay with the worker, whose decoders may hold views into them) (a 200 MB capture makes ~1.5 GB of NDJSON).
 */
import { Worker } from 'node:worker_threads'
import { deserializeError, StmpError, type SerializedError } from '../errors.js'
import { CaptureNdjson, ChunkPool, OUT_CHUNK } from './capture-ndjson.js'
import { CaptureDecoder } from '../capture/decoder.js'
import type { CaptureDecodeResult } from '../capture/decode-capture.js'
import { BatchBuilder, portable, type BatchOutput, type DecodeWorkerData, type EndMessage, type RecycleMessage, type WorkerFailure } from '../capture/parallel-batch.js'
import { addSummary, CaptureStmpDecoder, type CaptureStmpOptions, type CaptureSummary } from '../capture/stmp.js'
import type { CaptureEvent } from '../capture/types.js'

const MAX_IN_FLIGHT = 2
/** Shares of the connections: the main thread also reads the capture and merges, so it takes fewer. */
const MAIN_SHARE = 2
const WORKER_SHARE = 3

export interface ParallelDecodeOptions extends CaptureStmpOptions {
  /** Threads that decode STMP, the main thread included (2: the main thread and one worker). */
  threads: number
  /** Called between read chunks; a promise pauses reading until it settles (stdout backpressure). */
  drain?: () => Promise<void> | undefined
}

/** One lane's answers not yet copied out: `at` is the next record of the first, `consumed` its bytes copied. */
interface Queue {
  outputs: BatchOutput[]
  at: number
  consumed: number
  recycle: (chunks: Uint8Array[]) => void
}

/** The main thread's own share: decoded as the events come, answered at the end of each read chunk. */
class LocalLane {
  readonly stmp: CaptureStmpDecoder
  private chunks: Uint8Array[] = []
  private ends: number[] = []
  private start = 0
  private readonly pool = new ChunkPool()
  private readonly out: CaptureNdjson

  constructor(options: CaptureStmpOptions) {
    this.out = new CaptureNdjson((chunk) => this.chunks.push(chunk), this.pool.take)
    this.stmp = new CaptureStmpDecoder((event) => this.out.event(event), options, (event) => this.out.head(event))
  }

  event(event: CaptureEvent): void {
    this.stmp.event(event)
    this.ends.push(this.out.written - this.start)
  }

  /** Marks the end of an event that made no lines (end of capture). */
  mark(): void {
    this.ends.push(this.out.written - this.start)
  }

  /** The lines since the last answer, as a worker would answer. */
  answer(): BatchOutput | undefined {
    if (this.ends.length === 0) return undefined
    this.out.flush()
    const output: BatchOutput = { type: 'output', chunks: this.chunks, ends: Float64Array.from(this.ends) }
    this.chunks = []
    this.ends = []
    this.start = this.out.written
    return output
  }

  recycle(chunks: Uint8Array[]): void {
    for (const chunk of chunks) this.pool.give(chunk)
  }
}

/**
 * What a worker reported: its own coded errors as they are; anything else is a bug, reported as
 * INTERNAL with the worker's stack as the cause (printed with STMPCAT_DEBUG=1).
 */
export function workerFailure(error: SerializedError): StmpError {
  const err = deserializeError(error)
  if (err.code !== 'INTERNAL') return err
  return new StmpError('INTERNAL', `unexpected error in a decode worker: ${err.message} (set STMPCAT_DEBUG=1 for the stack)`, { cause: err })
}

class WorkerLane {
  readonly worker: Worker
  readonly builder = new BatchBuilder()
  inFlight = 0
  summary: CaptureSummary | undefined

  constructor(data: DecodeWorkerData, onOutput: (output: BatchOutput) => void, onFailure: (err: StmpError) => void) {
    this.worker = new Worker(new URL('./capture-parallel-worker.js', import.meta.url), { workerData: data })
    this.worker.on('message', (msg: BatchOutput | WorkerFailure) => {
      if (msg.type === 'error') return onFailure(workerFailure(msg.error))
      this.inFlight--
      if (msg.arrays !== undefined) this.builder.recycle(msg.arrays)
      if (msg.summary !== undefined) this.summary = msg.summary
      onOutput(msg)
    })
    this.worker.on('error', (err) => onFailure(new StmpError('INTERNAL', `a decode worker failed: ${err.message} (set STMPCAT_DEBUG=1 for the stack)`, { cause: err })))
    this.worker.on('exit', (code) => {
      if (!this.stopping) onFailure(new StmpError('INTERNAL', `a decode worker exited (code ${code}) before the capture was decoded`))
    })
  }

  private stopping = false

  stop(): Promise<number> {
    this.stopping = true
    return this.worker.terminate()
  }

  send(): void {
    if (this.builder.records === 0) return
    const { batch, transfer } = this.builder.take()
    this.inFlight++
    this.worker.postMessage(batch, transfer)
  }

  recycle(chunks: Uint8Array[]): void {
    const message: RecycleMessage = { type: 'recycle', chunks }
    this.worker.postMessage(message, chunks.map((c) => c.buffer as ArrayBuffer))
  }
}

/**
 * Where the lines go: `write` takes one Buffer and calls `done` once it is written (the Buffer is
 * then used again); `writev`, when given, takes many at once and has written them when it returns
 * (stdout as a file or a device: one writev call), so the lanes' own Buffers are handed over
 * instead of being copied into one first.
 */
export interface ParallelOutput {
  write: (chunk: Buffer, done: () => void) => void
  writev?: (chunks: Uint8Array[]) => void
}

/** Slices handed to writev at most at once, and the bytes they may hold before a flush. */
const WRITEV_SLICES = 1024
const WRITEV_BYTES = 4 * OUT_CHUNK

/** Puts the lanes' lines out in route order: copied into large Buffers for `write`, or as slices for `writev`. */
class OrderedOutput {
  private readonly route: number[] = []
  private head = 0
  /** Buffers `write` is done with (a 200 MB capture makes ~1.5 GB of lines: no new Buffer per MiB). */
  private readonly pool = new ChunkPool(4)
  private out = this.pool.take(OUT_CHUNK)
  private pos = 0
  private slices: Uint8Array[] = []
  private sliceBytes = 0
  /** With writev: outputs whose Buffers go back to their lane once the slices taken from them are written. */
  private written: (() => void)[] = []

  constructor(private readonly queues: Queue[], private readonly output: ParallelOutput) {}

  push(lane: number): void {
    this.route.push(lane)
  }

  /** Copies out every place whose turn has come and whose lines are in. */
  drain(): void {
    const route = this.route
    while (this.head < route.length) {
      const queue = this.queues[route[this.head]]
      const output = queue.outputs[0]
      if (output === undefined) break
      const end = output.ends[queue.at]
      // The record's lines are bytes [consumed, end) of the output's chunks taken end to end.
      let base = 0
      for (const chunk of output.chunks) {
        const from = Math.max(queue.consumed, base)
        const to = Math.min(end, base + chunk.length)
        if (from < to) this.copy(chunk, from - base, to - base)
        base += chunk.length
        if (base >= end) break
      }
      queue.consumed = end
      if (++queue.at === output.ends.length) {
        queue.outputs.shift()
        queue.at = 0
        queue.consumed = 0
        if (this.output.writev === undefined) queue.recycle(output.chunks)
        else this.written.push(() => queue.recycle(output.chunks))
      }
      this.head++
    }
    if (this.head > 65536) {
      route.splice(0, this.head)
      this.head = 0
    }
  }

  get done(): boolean {
    return this.head === this.route.length
  }

  flush(): void {
    if (this.output.writev !== undefined) {
      if (this.slices.length > 0) this.output.writev(this.slices)
      this.slices = []
      this.sliceBytes = 0
      for (const recycle of this.written.splice(0)) recycle()
      return
    }
    if (this.pos === 0) return
    const chunk = this.out.subarray(0, this.pos)
    this.output.write(chunk, () => this.pool.give(chunk))
    this.out = this.pool.take(OUT_CHUNK)
    this.pos = 0
  }

  private copy(src: Uint8Array, start: number, end: number): void {
    if (this.output.writev !== undefined) {
      this.slices.push(src.subarray(start, end))
      this.sliceBytes += end - start
      if (this.slices.length === WRITEV_SLICES || this.sliceBytes >= WRITEV_BYTES) this.flush()
      return
    }
    while (start < end) {
      if (this.pos === this.out.length) this.flush()
      const n = Math.min(end - start, this.out.length - this.pos)
      this.out.set(src.subarray(start, start + n), this.pos)
      this.pos += n
      start += n
    }
  }
}

export async function decodeCaptureParallel(
  source: AsyncIterable<Buffer>, options: ParallelDecodeOptions, output: ParallelOutput,
): Promise<CaptureDecodeResult> {
  const { threads, drain, ...stmpOptions } = options
  let failure: StmpError | undefined
  let wake: (() => void) | undefined
  const signal = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  const fail = (err: StmpError) => {
    failure ??= err
    signal()
  }

  const local = new LocalLane(stmpOptions)
  const queues: Queue[] = [{ outputs: [], at: 0, consumed: 0, recycle: (chunks) => local.recycle(chunks) }]
  const workers: WorkerLane[] = []
  for (let i = 1; i < threads; i++) {
    const queue: Queue = { outputs: [], at: 0, consumed: 0, recycle: () => undefined }
    const { dialects, ...portable } = stmpOptions
    const lane = new WorkerLane({ options: portable, dialectNames: dialects?.map((d) => d.name) }, (output) => {
      queue.outputs.push(output)
      signal()
    }, fail)
    queue.recycle = (chunks) => lane.recycle(chunks)
    queues.push(queue)
    workers.push(lane)
  }
  const ordered = new OrderedOutput(queues, output)
  // Connection id -> lane: MAIN_SHARE slots for the main thread, WORKER_SHARE for each worker.
  const slots = [...Array<number>(MAIN_SHARE).fill(0), ...workers.flatMap((_, i) => Array<number>(WORKER_SHARE).fill(i + 1))]
  let lastTime = 0n

  const toLane = (connId: number, event: CaptureEvent) => {
    const lane = slots[connId % slots.length]
    ordered.push(lane)
    if (lane === 0) return local.event(event)
    const builder = workers[lane - 1].builder
    if (event.type === 'data') {
      if (builder.full(event.bytes.length)) workers[lane - 1].send()
      builder.data(event)
    } else {
      if (builder.full(0)) workers[lane - 1].send()
      builder.other(portable(event.type === 'error' ? { ...event, time: event.time ?? lastTime } : event as Exclude<CaptureEvent, { type: 'data' }>))
    }
  }
  const onEvent = (event: CaptureEvent) => {
    switch (event.type) {
      case 'data': case 'tcp-open': case 'tcp-close': case 'gap': case 'http-upgrade': case 'ws-message': case 'ws-control': case 'ws-undecodable':
        if (event.time > lastTime) lastTime = event.time
        return toLane(event.connId, event)
      case 'error':
        if (event.fatal || event.connId === undefined) {
          ordered.push(0)
          return local.event(event)
        }
        return toLane(event.connId, event)
      case 'packet-skipped':
        // Counted, never printed: no place in the route.
        local.stmp.event(event)
        return
      case 'ip-fragment':
        // No connection to route by (a later fragment has no ports): printed by the main thread, in capture order.
        ordered.push(0)
        return local.event(event)
      default:
        return
    }
  }
  /** Sends what is batched, copies out what is ready, and waits while a worker has more than `limit` batches unanswered. */
  const settle = async (limit: number) => {
    for (const lane of workers) lane.send()
    const answer = local.answer()
    if (answer !== undefined) queues[0].outputs.push(answer)
    for (;;) {
      ordered.drain()
      if (failure !== undefined) throw failure
      const wait = drain?.()
      if (wait !== undefined) {
        ordered.flush()
        await wait
        continue
      }
      if (workers.every((lane) => lane.inFlight <= limit) && (limit > 0 || ordered.done)) return
      await new Promise<void>((resolve) => { wake = resolve })
    }
  }

  const decoder = new CaptureDecoder(onEvent, { maxMessageBytes: options.maxFrameSize, serverPorts: options.ports })
  let bytes = 0
  try {
    for await (const chunk of source) {
      bytes += chunk.length
      decoder.write(chunk)
      if (decoder.hasFailed) break
      await settle(MAX_IN_FLIGHT)
    }
    decoder.end()
    // The end of the capture: every lane closes what it still has open, in lane order.
    ordered.push(0)
    local.stmp.end(lastTime)
    local.mark()
    workers.forEach((lane, i) => {
      ordered.push(i + 1)
      const end: EndMessage = { type: 'end', lastTime }
      lane.inFlight++
      lane.worker.postMessage(end)
    })
    await settle(0)
    ordered.flush()
    local.stmp.setPackets(decoder.stats.packets, decoder.stats.cutShort)
    const summary = local.stmp.summary
    for (const lane of workers) if (lane.summary !== undefined) addSummary(summary, lane.summary)
    const result: CaptureDecodeResult = { summary, format: decoder.format, bytes }
    const fatal = local.stmp.fatal
    if (fatal !== undefined) result.fatal = new StmpError('BAD_CAPTURE', fatal.message, { offset: fatal.offset })
    return result
  } finally {
    await Promise.all(workers.map((lane) => lane.stop()))
  }
}
