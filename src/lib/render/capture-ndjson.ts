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

/** Each byte's two lowercase hex digits as one little-endian uint16 (written with DataView). */
const HEX_PAIRS = new Uint16Array(256)
for (let b = 0; b < 256; b++) {
  const digit = (d: number) => (d < 10 ? 0x30 + d : 0x57 + d)
  HEX_PAIRS[b] = digit(b >> 4) | (digit(b & 15) << 8)
}
const K_REQUEST = Buffer.from('{"kind":"request","id":')
const K_PUSH = Buffer.from('{"kind":"push","id":')
const K_RESPONSE = Buffer.from('{"kind":"response","id":')
const K_HEX = Buffer.from(',"payloadHex":"')
/** `","follow":…,"fin":…,"offset":` for follow * 2 + fin. */
const K_FLAGS = [false, true].flatMap((follow) => [false, true].map((fin) => Buffer.from(`","follow":${follow},"fin":${fin},"offset":`)))
const K_LENGTH = Buffer.from(',"length":')
const K_FRAGMENTS = Buffer.from(',"fragments":')
const K_PAYLOAD = Buffer.from(',"payload":')
/** Size of the Buffers lines are written into. */
export const OUT_CHUNK = 1024 * 1024
/** Frame lengths below this get their `,"length":N` piece cached. */
const LENGTH_CACHE = 4096
const TRANSPORT_CODE = { stream: 0, websocket: 1 } as const
const FORMAT_CODE = { binary: 0, text: 1, http: 2 } as const

/**
 * Writes the NDJSON lines into large Buffers and hands each one to `write` when full (a new
 * Buffer is taken after each, so `write` may keep it). Request, Push and Response frames, nearly
 * every line of a large capture, are written field by field into the Buffer: constant pieces and
 * a one-line JSON payload by TypedArray#set, numbers digit by digit, the payload hex two digits
 * at a time, and the `time` + connection tail from a cache (one per packet and connection side).
 * Everything else goes through captureLine. The bytes are the same as captureLine's (tested).
 *
 * Byte-at-a-time loops in JavaScript cost a few ns per byte, and a line is ~400 bytes: so the
 * writer copies every piece longer than a few bytes with one native call.
 */
export class CaptureNdjson {
  private buf: Buffer
  private view: DataView
  private pos = 0
  /** Bytes handed to `write` so far. */
  private flushed = 0
  private readonly time = new IsoTime()
  private lastTimeNs = -1n
  private lastTailKey = -1
  private lastTimeTail = Buffer.alloc(0)
  private readonly strings = new Map<string, string>()
  private readonly actions = new Map<string, Buffer>()
  private readonly tails = new Map<number, string>()
  private readonly heads = new Map<number, Buffer>()
  private readonly lengths: Buffer[] = []
  private readonly lengthsWithPayload: Buffer[] = []

  /**
   * `write` gets each full Buffer and may keep it; `alloc` gives the next one (at least `size`
   * bytes, its own ArrayBuffer): a pool can recycle the Buffers `write` is done with.
   */
  constructor(private readonly write: (chunk: Buffer) => void, private readonly alloc: (size: number) => Buffer = Buffer.allocUnsafeSlow) {
    this.buf = alloc(OUT_CHUNK)
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length)
  }

  event(event: CaptureOutEvent): void {
    if (event.type === 'frame' && (event.frame.kind === 'request' || event.frame.kind === 'push' || event.frame.kind === 'response')) {
      this.messageFrame(event, event.frame)
      return
    }
    this.text(captureLine(event, this.time, this.strings))
  }

  /** Bytes of output so far: handed to `write` or still buffered. */
  get written(): number {
    return this.flushed + this.pos
  }

  flush(): void {
    if (this.pos === 0) return
    const chunk = this.buf.subarray(0, this.pos)
    this.flushed += this.pos
    this.take(OUT_CHUNK)
    this.write(chunk)
  }

  private take(size: number): void {
    this.buf = this.alloc(size)
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length)
    this.pos = 0
  }

  private room(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return
    this.flush()
    if (bytes > this.buf.length) this.take(bytes)
  }

  private text(line: string): void {
    this.room(Buffer.byteLength(line))
    this.pos += this.buf.write(line, this.pos, 'utf8')
  }

  private put(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
  }

  /** A non-negative integer in decimal. */
  private int(n: number): void {
    const buf = this.buf
    const pos = this.pos
    if (n < 10) {
      buf[pos] = 0x30 + n
      this.pos = pos + 1
      return
    }
    if (n > 0x7fffffff) {
      this.pos += buf.write(String(n), pos, 'latin1')
      return
    }
    // Digits by comparison, then integer division by `| 0` (n fits in 31 bits here).
    const digits = n < 100 ? 2 : n < 1000 ? 3 : n < 10000 ? 4 : n < 100000 ? 5 : n < 1000000 ? 6 : n < 10000000 ? 7 : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10
    let p = pos + digits - 1
    let rest = n
    while (rest >= 10) {
      const q = (rest / 10) | 0
      buf[p--] = 0x30 + rest - q * 10
      rest = q
    }
    buf[p] = 0x30 + rest
    this.pos = pos + digits
  }

  private messageFrame(event: CaptureFrameEvent, frame: MessageFrame): void {
    const json = payloadJson(frame, event.codec)
    // The head up to the hex digits: `{"kind":…,"id":` ID, then a cached piece ending in `,"payloadHex":"`.
    const rest = frame.follow ? K_HEX : frame.kind === 'response' ? this.statusHead(frame.status ?? 0, frame.latency ?? null) : this.action(frame.action ?? '')
    const timeTail = this.timeTail(event)
    const payload = frame.payload
    const jsonBytes = json === undefined ? 0 : typeof json === 'string' ? Buffer.byteLength(json) : json.length
    this.room(256 + rest.length + payload.length * 2 + jsonBytes + timeTail.length)
    this.put(frame.kind === 'response' ? K_RESPONSE : frame.kind === 'request' ? K_REQUEST : K_PUSH)
    this.int(frame.id)
    this.put(rest)
    const view = this.view
    let pos = this.pos
    const n = payload.length
    let i = 0
    // Two payload bytes (four hex digits) per store.
    for (; i + 1 < n; i += 2) {
      view.setUint32(pos, HEX_PAIRS[payload[i]] | (HEX_PAIRS[payload[i + 1]] << 16), true)
      pos += 4
    }
    if (i < n) {
      view.setUint16(pos, HEX_PAIRS[payload[i]], true)
      pos += 2
    }
    this.pos = pos
    this.put(K_FLAGS[(frame.follow ? 2 : 0) + (frame.fin ? 1 : 0)])
    this.int(event.offset)
    if (event.fragments === undefined && event.length < LENGTH_CACHE) {
      // `,"length":N` and, with a payload, `,"payload":` in one piece.
      this.put(this.lengthPiece(event.length, json !== undefined))
    } else {
      this.put(K_LENGTH)
      this.int(event.length)
      if (event.fragments !== undefined) {
        this.put(K_FRAGMENTS)
        this.int(event.fragments)
      }
      if (json !== undefined) this.put(K_PAYLOAD)
    }
    if (json !== undefined) {
      if (typeof json === 'string') this.pos += this.buf.write(json, this.pos, 'utf8')
      else this.put(json)
    }
    this.put(timeTail)
  }

  /** `,"status":S,"latency":L,"payloadHex":"` as bytes, cached per status and latency. */
  private statusHead(status: number, latency: number | null): Buffer {
    const key = status * 65537 + (latency ?? 65536)
    let bytes = this.heads.get(key)
    if (bytes === undefined) {
      if (this.heads.size > 10_000) this.heads.clear()
      bytes = Buffer.from(`,"status":${status},"latency":${latency},"payloadHex":"`)
      this.heads.set(key, bytes)
    }
    return bytes
  }

  /** `,"length":N` (+ `,"payload":`) as bytes, cached for N < LENGTH_CACHE. */
  private lengthPiece(length: number, payload: boolean): Buffer {
    const cache = payload ? this.lengthsWithPayload : this.lengths
    let bytes = cache[length]
    if (bytes === undefined) {
      bytes = Buffer.from(`,"length":${length}${payload ? ',"payload":' : ''}`)
      cache[length] = bytes
    }
    return bytes
  }

  /** `,"action":"...","payloadHex":"` as bytes, cached per action. */
  private action(action: string): Buffer {
    let bytes = this.actions.get(action)
    if (bytes === undefined) {
      if (this.actions.size > 10_000) this.actions.clear()
      bytes = Buffer.from(`,"action":${JSON.stringify(action)},"payloadHex":"`)
      this.actions.set(action, bytes)
    }
    return bytes
  }

  /**
   * `,"time":"…","connection":…,"direction":…,"transport":…,"format":…}\n` as bytes: the end of
   * every line, the same for all the frames of one packet (a segment carries dozens of small ones).
   */
  private timeTail(event: CaptureFrameEvent): Buffer {
    const key = event.connId * 16 + (event.direction === 'client' ? 0 : 8) + TRANSPORT_CODE[event.transport] * 4 + FORMAT_CODE[event.format]
    if (event.time === this.lastTimeNs && key === this.lastTailKey) return this.lastTimeTail
    let tail = this.tails.get(key)
    if (tail === undefined) {
      if (this.tails.size > 100_000) this.tails.clear()
      tail = `,"connection":${JSON.stringify(event.connection)},"direction":"${event.direction}","transport":"${event.transport}","format":"${event.format}"}\n`
      this.tails.set(key, tail)
    }
    this.lastTimeNs = event.time
    this.lastTailKey = key
    this.lastTimeTail = Buffer.from(`,"time":"${this.time.format(event.time)}"${tail}`)
    return this.lastTimeTail
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
