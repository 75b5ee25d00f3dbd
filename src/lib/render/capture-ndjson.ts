import { isUtf8 } from 'node:buffer'
import { frameToJson, type AnyFrame } from '../codec/index.js'
import type { CaptureFrameEvent, CaptureOutEvent } from '../capture/stmp.js'
import { MsgpackCodec, toJsonSafe, type PayloadCodecName } from '../payload/index.js'

/**
 * `decode --json` for captures: one JSON object per line, in capture order (docs/decode.md).
 * A frame: the conformance fields (frameToJson), `offset`, `length`, `payload` (decoded by the
 * connection's content type), `time`, `connection`, `direction`, `transport`, `format`.
 *
 * This is the hot path of decoding a large capture, so the common frames (request, push,
 * response) are written by string concatenation rather than by building an object for
 * JSON.stringify, and lines are written in large batches.
 */

const msgpack = new MsgpackCodec()

/** `2026-11-22T03:04:05.123456Z`: nanoseconds truncated (not rounded) to microseconds. */
export class IsoTime {
  private lastNs = -1n
  private lastText = ''
  private lastSecond = -1n
  private prefix = ''

  format(ns: bigint): string {
    if (ns === this.lastNs) return this.lastText
    const second = ns / 1_000_000_000n
    if (second !== this.lastSecond) {
      this.lastSecond = second
      // `YYYY-MM-DDTHH:MM:SS.` from the millisecond ISO form.
      this.prefix = new Date(Number(second) * 1000).toISOString().slice(0, 20)
    }
    const micros = Number((ns % 1_000_000_000n) / 1000n)
    this.lastNs = ns
    this.lastText = `${this.prefix}${String(micros).padStart(6, '0')}Z`
    return this.lastText
  }
}

/**
 * The payload as JSON text, decoded by the connection's content type (wire notes §9), or
 * undefined when there is nothing to show (empty, raw octets, protobuf without .proto files, or
 * bytes that do not decode). A non-2xx Response's payload is a UTF-8 message (wire notes §5).
 */
export function payloadJsonText(frame: AnyFrame, codec: PayloadCodecName | undefined): string | undefined {
  if (frame.kind !== 'request' && frame.kind !== 'push' && frame.kind !== 'response') return undefined
  const bytes = frame.payload
  if (bytes.length === 0) return undefined
  if (frame.kind === 'response' && frame.status !== undefined && (frame.status < 200 || frame.status > 299)) {
    return isUtf8(bytes) ? JSON.stringify(bytes.toString('utf8')) : undefined
  }
  switch (codec) {
    case 'json': {
      const text = utf8Text(bytes)
      if (text === undefined) return undefined
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch {
        return undefined
      }
      // Valid JSON without line breaks can go into the line as it is: no re-serialising.
      return text.includes('\n') || text.includes('\r') ? JSON.stringify(value) : text
    }
    case 'text':
      return isUtf8(bytes) ? JSON.stringify(bytes.toString('utf8')) : undefined
    case 'msgpack':
      try {
        return JSON.stringify(toJsonSafe(msgpack.decode(bytes)))
      } catch {
        return undefined
      }
    default:
      return undefined
  }
}

/**
 * The bytes as text if they are valid UTF-8. Decoding first and checking for U+FFFD (what
 * invalid sequences become) is cheaper than a separate validation pass; only text that holds a
 * U+FFFD, which valid UTF-8 may also encode, is checked again.
 */
function utf8Text(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8')
  if (!text.includes('\uFFFD')) return text
  return isUtf8(bytes) ? text : undefined
}

export class CaptureNdjson {
  private buffer = ''
  private readonly time = new IsoTime()
  private readonly connectionJson = new Map<string, string>()

  constructor(private readonly write: (text: string) => void, private readonly batchChars = 1024 * 1024) {}

  event(event: CaptureOutEvent): void {
    this.buffer += captureLine(event, this.time, this.connectionJson)
    if (this.buffer.length >= this.batchChars) this.flush()
  }

  flush(): void {
    if (this.buffer.length === 0) return
    this.write(this.buffer)
    this.buffer = ''
  }
}

function quoted(cache: Map<string, string>, text: string): string {
  let json = cache.get(text)
  if (json === undefined) {
    if (cache.size > 10_000) cache.clear()
    json = JSON.stringify(text)
    cache.set(text, json)
  }
  return json
}

/** One NDJSON line (with its `\n`) for an event. */
export function captureLine(event: CaptureOutEvent, time: IsoTime = new IsoTime(), cache: Map<string, string> = new Map()): string {
  switch (event.type) {
    case 'frame':
      return frameLine(event, time, cache)
    case 'error': {
      const error: Record<string, unknown> = { code: event.code, message: event.message }
      if (event.offset !== undefined) error.offset = event.offset
      const out: Record<string, unknown> = { error }
      if (event.connection !== undefined) out.connection = event.connection
      if (event.direction !== undefined) out.direction = event.direction
      if (event.time !== undefined) out.time = time.format(event.time)
      return `${JSON.stringify(out)}\n`
    }
    case 'gap':
      return `${JSON.stringify({ gap: { connection: event.connection, direction: event.direction, offset: event.offset, bytes: event.bytes, time: time.format(event.time) } })}\n`
    case 'undecodable':
      return `${JSON.stringify({ undecodable: { connection: event.connection, direction: event.direction, offset: event.offset, bytes: event.bytes, time: time.format(event.time) } })}\n`
  }
}

function frameLine(event: CaptureFrameEvent, time: IsoTime, cache: Map<string, string>): string {
  const frame = event.frame
  let head: string
  if (frame.kind === 'request' || frame.kind === 'push') {
    head = `{"kind":"${frame.kind}","id":${frame.id}`
    if (!frame.follow) head += `,"action":${quoted(cache, frame.action ?? '')}`
    head += `,"payloadHex":"${frame.payload.toString('hex')}","follow":${frame.follow},"fin":${frame.fin}`
  } else if (frame.kind === 'response') {
    head = `{"kind":"response","id":${frame.id}`
    if (!frame.follow) head += `,"status":${frame.status},"latency":${frame.latency ?? null}`
    head += `,"payloadHex":"${frame.payload.toString('hex')}","follow":${frame.follow},"fin":${frame.fin}`
  } else {
    const json = JSON.stringify(frameToJson(frame))
    head = json.slice(0, -1)
  }
  head += `,"offset":${event.offset},"length":${event.length}`
  if (event.fragments !== undefined) head += `,"fragments":${event.fragments}`
  const payload = payloadJsonText(frame, event.codec)
  if (payload !== undefined) head += `,"payload":${payload}`
  return `${head},"time":"${time.format(event.time)}","connection":${quoted(cache, event.connection)},"direction":"${event.direction}","transport":"${event.transport}","format":"${event.format}"}\n`
}
