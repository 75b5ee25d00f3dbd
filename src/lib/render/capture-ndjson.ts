import { isUtf8 } from 'node:buffer'
import { frameToJson, type AnyFrame, type MessageFrame } from '../codec/index.js'
import type { CaptureFrameEvent, CaptureOutEvent } from '../capture/stmp.js'
import { MsgpackCodec, toJsonSafe, type PayloadCodecName } from '../payload/index.js'
import { checkJsonBytes, JSON_INVALID, JSON_ONE_LINE } from './json-bytes.js'

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
 * The payload as JSON, decoded by the connection's content type (wire notes §9): a Buffer when
 * the payload bytes themselves are the JSON text (valid JSON on one line: copied as they are), a
 * string of JSON otherwise, or undefined when there is nothing to show (empty, raw octets,
 * protobuf without .proto files, or bytes that do not decode). A non-2xx Response's payload is a
 * UTF-8 message (wire notes §5).
 */
export function payloadJson(frame: AnyFrame, codec: PayloadCodecName | undefined): Buffer | string | undefined {
  if (frame.kind !== 'request' && frame.kind !== 'push' && frame.kind !== 'response') return undefined
  const bytes = frame.payload
  if (bytes.length === 0) return undefined
  if (frame.kind === 'response' && frame.status !== undefined && (frame.status < 200 || frame.status > 299)) {
    return isUtf8(bytes) ? JSON.stringify(bytes.toString('utf8')) : undefined
  }
  switch (codec) {
    case 'json': {
      const check = checkJsonBytes(bytes)
      if (check === JSON_ONE_LINE) return bytes
      if (check === JSON_INVALID) return undefined
      return JSON.stringify(JSON.parse(bytes.toString('utf8')))
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

/** payloadJson as a string. */
export function payloadJsonText(frame: AnyFrame, codec: PayloadCodecName | undefined): string | undefined {
  const json = payloadJson(frame, codec)
  return Buffer.isBuffer(json) ? json.toString('utf8') : json
}

const HEX = Buffer.from('0123456789abcdef')
const K_REQUEST = Buffer.from('{"kind":"request","id":')
const K_PUSH = Buffer.from('{"kind":"push","id":')
const K_RESPONSE = Buffer.from('{"kind":"response","id":')
const K_STATUS = Buffer.from(',"status":')
const K_LATENCY = Buffer.from(',"latency":')
const K_NULL = Buffer.from('null')
const K_HEX = Buffer.from(',"payloadHex":"')
const K_FOLLOW_TRUE = Buffer.from('","follow":true')
const K_FOLLOW_FALSE = Buffer.from('","follow":false')
const K_FIN_TRUE = Buffer.from(',"fin":true,"offset":')
const K_FIN_FALSE = Buffer.from(',"fin":false,"offset":')
const K_LENGTH = Buffer.from(',"length":')
const K_FRAGMENTS = Buffer.from(',"fragments":')
const K_PAYLOAD = Buffer.from(',"payload":')
const OUT_CHUNK = 1024 * 1024
const TRANSPORT_CODE = { stream: 0, websocket: 1 } as const
const FORMAT_CODE = { binary: 0, text: 1, http: 2 } as const

/**
 * Writes the NDJSON lines into large Buffers and hands each one to `write` when full (a new
 * Buffer is taken after each, so `write` may keep it). Request, Push and Response frames, nearly
 * every line of a large capture, are written field by field into the Buffer: numbers and ASCII as
 * latin1, the payload hex by table, a one-line JSON payload copied byte for byte, the
 * connection tail from a per-connection cache. Everything else goes through captureLine.
 * The bytes are the same as captureLine's (tested).
 */
export class CaptureNdjson {
  private buf = Buffer.allocUnsafe(OUT_CHUNK)
  private pos = 0
  private readonly time = new IsoTime()
  private lastTimeNs = -1n
  private lastTimeBytes = Buffer.alloc(0)
  private readonly strings = new Map<string, string>()
  private readonly actions = new Map<string, Buffer>()
  private readonly tails = new Map<number, Buffer>()

  constructor(private readonly write: (chunk: Buffer) => void) {}

  event(event: CaptureOutEvent): void {
    if (event.type === 'frame' && (event.frame.kind === 'request' || event.frame.kind === 'push' || event.frame.kind === 'response')) {
      this.messageFrame(event, event.frame)
      return
    }
    this.text(captureLine(event, this.time, this.strings))
  }

  flush(): void {
    if (this.pos === 0) return
    const chunk = this.buf.subarray(0, this.pos)
    this.buf = Buffer.allocUnsafe(OUT_CHUNK)
    this.pos = 0
    this.write(chunk)
  }

  private room(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return
    this.flush()
    if (bytes > this.buf.length) this.buf = Buffer.allocUnsafe(bytes)
  }

  private text(line: string): void {
    this.room(Buffer.byteLength(line))
    this.pos += this.buf.write(line, this.pos, 'utf8')
  }

  /** Copies bytes in: a plain loop for the short pieces a line is made of, TypedArray#set for long ones. */
  private put(bytes: Uint8Array): void {
    const n = bytes.length
    if (n > 64) {
      this.buf.set(bytes, this.pos)
      this.pos += n
      return
    }
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < n; i++) buf[pos++] = bytes[i]
    this.pos = pos
  }

  /** A non-negative integer in decimal. */
  private int(n: number): void {
    const buf = this.buf
    if (n < 10) {
      buf[this.pos++] = 0x30 + n
      return
    }
    let digits = 1
    for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++
    let pos = this.pos + digits - 1
    for (let rest = n; ; rest = Math.floor(rest / 10)) {
      buf[pos--] = 0x30 + (rest % 10)
      if (rest < 10) break
    }
    this.pos += digits
  }

  private messageFrame(event: CaptureFrameEvent, frame: MessageFrame): void {
    const json = payloadJson(frame, event.codec)
    const action = frame.kind !== 'response' && !frame.follow ? this.action(frame.action ?? '') : undefined
    const tail = this.tail(event)
    const payload = frame.payload
    const jsonBytes = json === undefined ? 0 : Buffer.isBuffer(json) ? json.length : Buffer.byteLength(json)
    this.room(256 + (action?.length ?? 0) + payload.length * 2 + jsonBytes + tail.length)
    this.put(frame.kind === 'response' ? K_RESPONSE : frame.kind === 'request' ? K_REQUEST : K_PUSH)
    this.int(frame.id)
    if (frame.kind === 'response') {
      if (!frame.follow) {
        this.put(K_STATUS)
        this.int(frame.status ?? 0)
        this.put(K_LATENCY)
        if (frame.latency === null || frame.latency === undefined) this.put(K_NULL)
        else this.int(frame.latency)
      }
    } else if (action !== undefined) {
      this.put(action)
    }
    this.put(K_HEX)
    const buf = this.buf
    let pos = this.pos
    for (let i = 0; i < payload.length; i++) {
      const b = payload[i]
      buf[pos++] = HEX[b >> 4]
      buf[pos++] = HEX[b & 15]
    }
    this.pos = pos
    this.put(frame.follow ? K_FOLLOW_TRUE : K_FOLLOW_FALSE)
    this.put(frame.fin ? K_FIN_TRUE : K_FIN_FALSE)
    this.int(event.offset)
    this.put(K_LENGTH)
    this.int(event.length)
    if (event.fragments !== undefined) {
      this.put(K_FRAGMENTS)
      this.int(event.fragments)
    }
    if (json !== undefined) {
      this.put(K_PAYLOAD)
      if (Buffer.isBuffer(json)) this.put(json)
      else this.pos += this.buf.write(json, this.pos, 'utf8')
    }
    this.put(this.timeBytes(event.time))
    this.put(tail)
  }

  /** `,"action":"..."` as bytes, cached per action. */
  private action(action: string): Buffer {
    let bytes = this.actions.get(action)
    if (bytes === undefined) {
      if (this.actions.size > 10_000) this.actions.clear()
      bytes = Buffer.from(`,"action":${JSON.stringify(action)}`)
      this.actions.set(action, bytes)
    }
    return bytes
  }

  private timeBytes(ns: bigint): Buffer {
    if (ns !== this.lastTimeNs) {
      this.lastTimeNs = ns
      this.lastTimeBytes = Buffer.from(`,"time":"${this.time.format(ns)}"`, 'latin1')
    }
    return this.lastTimeBytes
  }

  /** `,"connection":...,"direction":...,"transport":...,"format":...}\n`, cached per connection and kind of line. */
  private tail(event: CaptureFrameEvent): Buffer {
    const key = event.connId * 16 + (event.direction === 'client' ? 0 : 8) + TRANSPORT_CODE[event.transport] * 4 + FORMAT_CODE[event.format]
    let bytes = this.tails.get(key)
    if (bytes === undefined) {
      if (this.tails.size > 100_000) this.tails.clear()
      bytes = Buffer.from(`,"connection":${JSON.stringify(event.connection)},"direction":"${event.direction}","transport":"${event.transport}","format":"${event.format}"}\n`)
      this.tails.set(key, bytes)
    }
    return bytes
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
