/**
 * A decode worker thread of `parallel.ts`: STMP decoding and NDJSON output for the connections
 * the main thread sends it. Each batch is answered with the lines it produced and where each
 * record's lines end, so the main thread can put all workers' lines back in capture order.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { serializeError } from '../errors.js'
import { CaptureNdjson, ChunkPool } from './capture-ndjson.js'
import { unpackBatch, type Batch, type BatchOutput, type DecodeWorkerData, type EndMessage, type RecycleMessage, type WorkerFailure } from '../capture/parallel-batch.js'
import { CaptureStmpDecoder } from '../capture/stmp.js'
import { loadDialect } from '../dialects/registry.js'

if (parentPort === null) throw new Error('the decode worker must run in a worker thread')
const port = parentPort
const data = workerData as DecodeWorkerData
// The sniffing dialects, loaded here again by name (see CaptureStmpOptions.dialects).
const options = data.dialectNames === undefined ? data.options : { ...data.options, dialects: await Promise.all(data.dialectNames.map((name) => loadDialect(name))) }

let chunks: Uint8Array[] = []
/** Output Buffers, given back by the main thread once it has put their lines out. */
const pool = new ChunkPool()
const out = new CaptureNdjson((chunk) => chunks.push(chunk), pool.take)
const stmp = new CaptureStmpDecoder((event) => out.event(event), options, (event) => out.head(event))
const connections = new Map<number, string>()

function answer(ends: Float64Array, start: number, batch: Batch | undefined, summary?: BatchOutput['summary']): void {
  out.flush()
  // The batch's bytes stay here (decoders hold views into them): only its record arrays go back.
  const arrays = batch === undefined ? undefined : { meta: batch.meta, times: batch.times }
  const message: BatchOutput = { type: 'output', chunks, ends, arrays, summary }
  // Each chunk is the whole of its own ArrayBuffer (CaptureNdjson takes a fresh one after each), so it can be moved.
  const transfer = [...new Set(chunks.map((c) => c.buffer as ArrayBuffer))]
  if (batch !== undefined) transfer.push(batch.meta.buffer as ArrayBuffer, batch.times.buffer as ArrayBuffer)
  chunks = []
  for (let i = 0; i < ends.length; i++) ends[i] -= start
  port.postMessage(message, transfer)
}

port.on('message', (msg: Batch | EndMessage | RecycleMessage) => {
  try {
    if (msg.type === 'recycle') {
      for (const chunk of msg.chunks) pool.give(chunk)
      return
    }
    const start = out.written
    if (msg.type === 'end') {
      stmp.end(msg.lastTime)
      answer(Float64Array.of(out.written), start, undefined, stmp.summary)
      return
    }
    const ends = new Float64Array(msg.records)
    let r = 0
    for (const event of unpackBatch(msg, connections)) {
      stmp.event(event)
      ends[r++] = out.written
      if (event.type === 'tcp-close') connections.delete(event.connId)
    }
    answer(ends, start, msg)
  } catch (err) {
    const failure: WorkerFailure = { type: 'error', error: serializeError(err) }
    port.postMessage(failure)
  }
})
