import { isUtf8 } from 'node:buffer'
import { dialectLineJson } from './capture-dialect.js'
import { frameToJson, type AnyFrame, type MessageFrame } from '../codec/index.js'
import type { CaptureFrameEvent, CaptureFrameMeta, CaptureHeadEvent, CaptureOutEvent } from '../capture/stmp.js'
import { MsgpackCodec, toJsonSafe, type PayloadCodecName } from '../payload/index.js'
import { checkJsonBytes, JSON_INVALID, JSON_ONE_LINE } from './json-bytes.js'
import { isoSecond, splitNs } from './time.js'

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
  private lastNs: bigint | undefined
  private lastText = ''
  private lastSecond: bigint | undefined
  private prefix = ''

  format(ns: bigint): string {
    if (ns === this.lastNs) return this.lastText
    const { second, micros } = splitNs(ns)
    if (second !== this.lastSecond) {
      this.lastSecond = second
      this.prefix = `${isoSecond(second)}.`
    }
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
  const json = payloadJsonAt(frame.kind === 'response' ? frame.status : undefined, frame.payload, 0, frame.payload.length, codec)
  return json === RAW_JSON ? frame.payload : json
}

/** payloadJsonAt's answer when the payload bytes are the JSON text as they are. */
const RAW_JSON = true

/**
 * payloadJson of a message frame whose payload is src[start, end); `status`: a Response's status
 * (undefined for other kinds and for continuation frames). RAW_JSON: the bytes are the JSON.
 */
function payloadJsonAt(status: number | undefined, src: Buffer, start: number, end: number, codec: PayloadCodecName | undefined): typeof RAW_JSON | string | undefined {
  if (end === start) return undefined
  const bytes = () => src.subarray(start, end)
  if (status !== undefined && (status < 200 || status > 299)) {
    return isUtf8(bytes()) ? JSON.stringify(bytes().toString('utf8')) : undefined
  }
  switch (codec) {
    case 'json': {
      const check = checkJsonBytes(src, start, end)
      if (check === JSON_ONE_LINE) return RAW_JSON
      if (check === JSON_INVALID) return undefined
      return JSON.stringify(JSON.parse(bytes().toString('utf8')))
    }
    case 'text':
      return isUtf8(bytes()) ? JSON.stringify(bytes().toString('utf8')) : undefined
    case 'msgpack':
      try {
        return JSON.stringify(toJsonSafe(msgpack.decode(bytes())))
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

/**
 * Output Buffers to use again (a 200 MB capture makes ~1.5 GB of lines): CaptureNdjson's `alloc`
 * is `take`, and a chunk its `write` handed out goes back by `give` once it has been written.
 */
export class ChunkPool {
  private readonly spare: Buffer[] = []

  constructor(private readonly max = 8) {}

  readonly take = (size: number): Buffer => (size === OUT_CHUNK ? this.spare.pop() : undefined) ?? Buffer.allocUnsafeSlow(size)

  /** A chunk from CaptureNdjson (a view from the start of a Buffer `take` gave). */
  give(chunk: Uint8Array): void {
    if (chunk.buffer.byteLength === OUT_CHUNK && this.spare.length < this.max) this.spare.push(Buffer.from(chunk.buffer as ArrayBuffer, 0, OUT_CHUNK))
  }
}
/** Frame lengths below this get their `,"length":N` piece cached. */
const LENGTH_CACHE = 4096
const TRANSPORT_CODE = { stream: 0, websocket: 1 } as const
const FORMAT_CODE = { binary: 0, text: 1, http: 2, control: 3 } as const

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

  /** A Request, Push or Response decoded as a head (CaptureStmpDecoder's `heads` sink). */
  head(event: CaptureHeadEvent): void {
    const h = event.head
    if (h.kind === 'request' || h.kind === 'push') this.message(event, h.kind, h.id, h.follow, h.fin, h.action, undefined, null, event.bytes, h.payloadStart, h.payloadEnd)
    else if (h.kind === 'response') this.message(event, 'response', h.id, h.follow, h.fin, undefined, h.follow ? undefined : h.status, h.latency, event.bytes, h.payloadStart, h.payloadEnd)
  }

  private messageFrame(event: CaptureFrameEvent, frame: MessageFrame): void {
    const payload = frame.payload
    if (frame.kind === 'response') this.message(event, 'response', frame.id, frame.follow, frame.fin, undefined, frame.status, frame.latency ?? null, payload, 0, payload.length)
    else this.message(event, frame.kind, frame.id, frame.follow, frame.fin, frame.action, undefined, null, payload, 0, payload.length)
  }

  /**
   * One message frame's line; its payload is src[start, end). `action` is read unless `follow`,
   * `status` (undefined when `follow`) and `latency` for a Response.
   */
  private message(
    event: CaptureFrameMeta, kind: MessageFrame['kind'], id: number, follow: boolean, fin: boolean, action: string | undefined,
    status: number | undefined, latency: number | null, src: Buffer, start: number, end: number,
  ): void {
    const json = event.payloadJson ?? payloadJsonAt(status, src, start, end, event.codec)
    // The head up to the hex digits: `{"kind":…,"id":` ID, then a cached piece ending in `,"payloadHex":"`.
    const rest = follow ? K_HEX : kind === 'response' ? this.statusHead(status ?? 0, latency) : this.action(action ?? '')
    const timeTail = this.timeTail(event)
    const n = end - start
    const jsonBytes = json === undefined ? 0 : json === RAW_JSON ? n : Buffer.byteLength(json)
    this.room(256 + rest.length + n * 2 + jsonBytes + timeTail.length)
    this.put(kind === 'response' ? K_RESPONSE : kind === 'request' ? K_REQUEST : K_PUSH)
    this.int(id)
    this.put(rest)
    // The hex digits go at hexAt; what follows them is written first, up to the payload JSON.
    const hexAt = this.pos
    this.pos += n * 2
    this.put(K_FLAGS[(follow ? 2 : 0) + (fin ? 1 : 0)])
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
    // Two payload bytes (four hex digits) per store; JSON payload bytes copied in the same pass.
    const view = this.view
    let pos = hexAt
    let i = start
    if (json === RAW_JSON) {
      const at = this.pos - start
      for (; i + 1 < end; i += 2) {
        const a = src[i]
        const b = src[i + 1]
        view.setUint32(pos, HEX_PAIRS[a] | (HEX_PAIRS[b] << 16), true)
        view.setUint16(at + i, a | (b << 8), true)
        pos += 4
      }
      if (i < end) {
        view.setUint16(pos, HEX_PAIRS[src[i]], true)
        this.buf[at + i] = src[i]
      }
      this.pos += n
    } else {
      for (; i + 1 < end; i += 2) {
        view.setUint32(pos, HEX_PAIRS[src[i]] | (HEX_PAIRS[src[i + 1]] << 16), true)
        pos += 4
      }
      if (i < end) view.setUint16(pos, HEX_PAIRS[src[i]], true)
      if (json !== undefined) this.pos += this.buf.write(json, this.pos, 'utf8')
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
  private timeTail(event: CaptureFrameMeta): Buffer {
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
    case 'ip-fragment':
      return `${JSON.stringify({ ipFragment: { src: event.src, dst: event.dst, id: event.id, offset: event.offset, more: event.more, bytes: event.bytes, packet: event.packet, time: time.format(event.time) } })}\n`
    case 'gap':
      return `${JSON.stringify({ gap: { connection: event.connection, direction: event.direction, offset: event.offset, bytes: event.bytes, time: time.format(event.time) } })}\n`
    case 'undecodable': {
      const out: Record<string, unknown> = { connection: event.connection, direction: event.direction, offset: event.offset, bytes: event.bytes }
      if (event.lost !== undefined) out.lost = event.lost
      if (event.kind !== undefined) out.kind = event.kind
      if (event.id !== undefined) out.id = event.id
      if (event.missing !== undefined) out.missing = event.missing
      if (event.fragments !== undefined) out.fragments = event.fragments
      out.time = time.format(event.time)
      return `${JSON.stringify({ undecodable: out })}\n`
    }
    case 'dialect':
      return `${JSON.stringify(dialectLineJson(event, time.format(event.time)))}\n`
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
  const payload = event.payloadJson ?? payloadJsonText(frame, event.codec)
  if (payload !== undefined) head += `,"payload":${payload}`
  return `${head},"time":"${time.format(event.time)}","connection":${quoted(cache, event.connection)},"direction":"${event.direction}","transport":"${event.transport}","format":"${event.format}"}\n`
}
