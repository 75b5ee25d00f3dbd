/**
 * The `decode` source for packet captures: a stream of pcap/pcapng bytes (a file read in chunks,
 * or stdin) -> CaptureDecoder (decoder.ts) -> CaptureStmpDecoder (stmp.ts) -> a sink. The file is
 * never held in memory: each chunk is decoded and its output written before the next is read,
 * and the reader waits while the output asks it to (`drain`).
 */
import { Readable } from 'node:stream'
import { StmpError } from '../errors.js'
import { CaptureDecoder } from './decoder.js'
import { detectCaptureFormat } from './reader.js'
import { CaptureStmpDecoder, type CaptureHeadSink, type CaptureSink, type CaptureStmpOptions, type CaptureSummary } from './stmp.js'

export interface CaptureDecodeResult {
  summary: CaptureSummary
  format: 'pcap' | 'pcapng' | null
  bytes: number
  /** BAD_CAPTURE: the file stopped being readable at `offset` (what came before was decoded). */
  fatal?: StmpError
}

export interface CaptureDecodeRun extends CaptureStmpOptions {
  /** Called after each chunk; a promise pauses reading until it settles (output backpressure). */
  drain?: () => Promise<void> | undefined
}

/** Whether the first bytes are a pcap or pcapng magic number (`--input auto`). */
export function isCapture(firstBytes: Buffer): boolean {
  return firstBytes.length >= 4 && detectCaptureFormat(firstBytes) !== null
}

/** `heads`: where Request, Push and Response frames go as heads (see CaptureStmpDecoder). */
export async function decodeCaptureStream(
  source: AsyncIterable<Buffer>, options: CaptureDecodeRun, sink: CaptureSink, heads?: CaptureHeadSink,
): Promise<CaptureDecodeResult> {
  const stmp = new CaptureStmpDecoder(sink, options, heads)
  const decoder = new CaptureDecoder((event) => stmp.event(event), {
    maxMessageBytes: options.maxFrameSize,
    // A connection picked up mid-stream: the side on a --port port is the server.
    serverPorts: options.ports,
  })
  let bytes = 0
  for await (const chunk of source) {
    bytes += chunk.length
    decoder.write(chunk)
    if (decoder.hasFailed) break
    const wait = options.drain?.()
    if (wait !== undefined) await wait
  }
  decoder.end()
  stmp.end()
  stmp.setPackets(decoder.stats.packets, decoder.stats.cutShort)
  const result: CaptureDecodeResult = { summary: stmp.summary, format: decoder.format, bytes }
  if (stmp.fatal !== undefined) {
    result.fatal = new StmpError('BAD_CAPTURE', stmp.fatal.message, { offset: stmp.fatal.offset })
  }
  return result
}

/**
 * The first `n` bytes of a Readable (fewer if it ends first), without losing them: `stream` gives
 * every byte from the start again. That is the same stream with the bytes pushed back, or, when it
 * ended while being peeked (an input shorter than `n`: Node cannot push bytes back after its end),
 * a new stream of just those bytes.
 */
export async function peekStream(stream: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const parts: Buffer[] = []
  let length = 0
  let ended = false
  while (length < n) {
    const chunk = stream.read() as Buffer | null
    if (chunk !== null) {
      parts.push(chunk)
      length += chunk.length
      continue
    }
    if (stream.readableEnded) {
      ended = true
      break
    }
    ended = await new Promise<boolean>((resolve, reject) => {
      const onReadable = () => { cleanup(); resolve(false) }
      const onEnd = () => { cleanup(); resolve(true) }
      const onError = (err: Error) => { cleanup(); reject(err) }
      const cleanup = () => {
        stream.off('readable', onReadable)
        stream.off('end', onEnd)
        stream.off('error', onError)
      }
      stream.on('readable', onReadable)
      stream.on('end', onEnd)
      stream.on('error', onError)
    })
    if (ended) break
  }
  const head = Buffer.concat(parts, length)
  if (ended) return { head, stream: Readable.from(length > 0 ? [head] : []) }
  if (length > 0) stream.unshift(head)
  return { head, stream }
}
