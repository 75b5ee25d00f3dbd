import { WireError } from '../../errors.js'

/**
 * stmp-go 1.0 on the wire (wire notes §1; the source wins: tawawhite/stmp-go stmp/packet.go,
 * handshake.go, header.go, consts.go). Pure: no I/O, no state beyond the decoders' buffers.
 *
 * Handshake (streams, client first):  "STMP" u8(major<<4|minor) uvarint len(H) H uvarint len(M) M
 *                   (the server's):  "STMP" u8(status)         uvarint len(H) H uvarint len(M) M
 * Handshake (WebSocket, the server's first message): the same bytes, or in text format
 *                                     "STMP<hex status>[\nH<header>][\nM<message>]"
 * Packet head: bit7 FIN (1), bits6-4 kind, bit3 WP (payload), bit2 WH (header), bit1 SA (string
 * method), bit0 0. Then: mid u16 LE (Request, Response), status u8 (Response, Close), the action
 * (uvarint, or with SA uvarint len + method) (Request, Notify), [WH] uvarint len + header,
 * [WP] uvarint len + payload (on WebSocket the payload is the rest of the message, no length).
 * Text packets (WebSocket): I, O, Q<mid>:<action>|Q<mid>:M:<method>, N<action>, S<mid>:<status>,
 * C<status>, then [\nH<header>] [\nP<payload>]; numbers in uppercase hex.
 */

export const MAGIC = Buffer.from('STMP', 'latin1')
/** stmp-go's default maxPacketSize: method + header + payload of one packet, and one handshake. */
export const DEFAULT_MAX_PACKET = 16 * 1024 * 1024

export const KIND = { ping: 0, pong: 1, request: 2, notify: 3, response: 4, close: 5 } as const
export type PacketKind = keyof typeof KIND
const KIND_NAMES: readonly PacketKind[] = ['ping', 'pong', 'request', 'notify', 'response', 'close']
const TEXT_KIND: Record<PacketKind, string> = { ping: 'I', pong: 'O', request: 'Q', notify: 'N', response: 'S', close: 'C' }
const KIND_OF_TEXT: Record<string, PacketKind> = { I: 'ping', O: 'pong', Q: 'request', N: 'notify', S: 'response', C: 'close' }

export const FLAG_PAYLOAD = 0x08
export const FLAG_HEADER = 0x04
export const FLAG_STRING_ACTION = 0x02

/** Header pairs in their order on the wire (keys may repeat, header.go). */
export type HeaderList = [string, string][]

/** An action id: a uvarint up to 64 bits (a number while it fits in 2^53, else a bigint). */
export type ActionId = number | bigint

export interface Packet {
  kind: PacketKind
  /** Request, Response: the u16 message id (0 for stmp-go's answer to a Notify). */
  mid?: number
  /** Response, Close: the wire status 0x00..0xff. */
  status?: number
  /** Request, Notify without SA. */
  action?: ActionId
  /** Request, Notify with SA. */
  method?: string
  headers?: HeaderList
  payload: Buffer
}

export interface Handshake {
  /** client: version major/minor; server: status. */
  side: 'client' | 'server'
  major?: number
  minor?: number
  status?: number
  headers: HeaderList
  message: string
}

const EMPTY = Buffer.alloc(0)

// ---- statuses ----

/** The status table (consts.go): wire value, name, stmpcat status. */
export const STATUS_TABLE: readonly { wire: number; name: string; status: number }[] = [
  { wire: 0x00, name: 'Ok', status: 200 },
  { wire: 0x01, name: 'Unknown', status: 520 },
  { wire: 0x02, name: 'NetworkError', status: 502 },
  { wire: 0x03, name: 'ProtocolError', status: 422 },
  { wire: 0x20, name: 'BadRequest', status: 400 },
  { wire: 0x21, name: 'Unauthorized', status: 401 },
  { wire: 0x22, name: 'NotFound', status: 404 },
  { wire: 0x23, name: 'RequestTimeout', status: 408 },
  { wire: 0x24, name: 'RequestEntityTooLarge', status: 413 },
  { wire: 0x25, name: 'TooManyRequests', status: 429 },
  { wire: 0x40, name: 'InternalServerError', status: 500 },
  { wire: 0x41, name: 'ServerShutdown', status: 503 },
]

const BY_WIRE = new Map(STATUS_TABLE.map((s) => [s.wire, s]))
const BY_STATUS = new Map(STATUS_TABLE.map((s) => [s.status, s.wire]))

/** A wire status as stmpcat's: the table, else by range (0x01-0x1f 520, 0x20-0x3f 400, 0x40- 500). */
export function statusOf(wire: number): number {
  const hit = BY_WIRE.get(wire)
  if (hit) return hit.status
  if (wire < 0x20) return 520
  if (wire < 0x40) return 400
  return 500
}

/** A stmpcat status on the wire: the table, else 2xx Ok, other 4xx BadRequest, other 5xx InternalServerError. */
export function wireStatusOf(status: number): number {
  const hit = BY_STATUS.get(status)
  if (hit !== undefined) return hit
  if (status >= 200 && status <= 299) return 0x00
  if (status === 403) return 0x21
  if (status >= 400 && status <= 499) return 0x20
  if (status >= 500 && status <= 599) return 0x40
  return 0x01
}

/** stmp-go's name of a status (`Unknown (0x7)` for others, as Status.Error()). */
export function statusName(wire: number): string {
  return BY_WIRE.get(wire)?.name ?? `Unknown (0x${wire.toString(16)})`
}

/** Close statuses and stmpcat close codes (WebSocket numbers), both ways. */
const CLOSE_TO_CODE: Record<number, number> = {
  0x00: 1000, 0x01: 1011, 0x02: 1001, 0x03: 1002, 0x20: 1008, 0x21: 1008, 0x22: 1008,
  0x23: 1001, 0x24: 1009, 0x25: 1008, 0x40: 1011, 0x41: 1001,
}
const CODE_TO_CLOSE: Record<number, number> = { 1000: 0x00, 1001: 0x41, 1002: 0x03, 1003: 0x20, 1007: 0x20, 1008: 0x20, 1009: 0x24, 1011: 0x40 }

export const CLOSE_TABLE: readonly { wire: number; code: number }[] = Object.entries(CLOSE_TO_CODE).map(([w, c]) => ({ wire: Number(w), code: c }))

export function closeCodeOf(wire: number): number {
  return CLOSE_TO_CODE[wire] ?? (wire < 0x40 ? 1008 : 1011)
}

export function closeStatusOf(code: number): number {
  return CODE_TO_CLOSE[code] ?? (code >= 4000 ? 0x01 : 0x40)
}

// ---- uvarint (Go binary.PutUvarint / Uvarint: LEB128, at most 10 bytes, 64 bits) ----

export const VARINT_INCOMPLETE = -1
export const VARINT_OVERFLOW = -2

/** -3 from readUvarint: the value is over 2^53 and is in `out.big`. */
export const VARINT_BIG = -3

/** Reads a uvarint at `pos`; `out.size` gets its length. Returns VARINT_INCOMPLETE, VARINT_OVERFLOW or VARINT_BIG. */
export function readUvarint(buf: Uint8Array, pos: number, end: number, out: { size: number; big?: bigint }): number {
  let value = 0
  let mul = 1
  for (let i = 0; i < 10; i++) {
    if (pos + i >= end) return VARINT_INCOMPLETE
    const b = buf[pos + i]
    if (i === 9 && b > 1) return VARINT_OVERFLOW
    value += (b & 0x7f) * mul
    mul *= 128
    if ((b & 0x80) === 0) {
      out.size = i + 1
      out.big = undefined
      if (i < 7) return value
      // Past 49 bits a double is not exact: again, as a bigint.
      let big = 0n
      for (let j = i; j >= 0; j--) big = (big << 7n) | BigInt(buf[pos + j] & 0x7f)
      if (big <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(big)
      out.big = big
      return VARINT_BIG
    }
  }
  return VARINT_OVERFLOW
}

export function uvarintSize(value: ActionId): number {
  if (typeof value === 'bigint') {
    let n = 1
    let v = value >> 7n
    while (v > 0n) {
      n++
      v >>= 7n
    }
    return n
  }
  let n = 1
  let v = Math.floor(value / 128)
  while (v > 0) {
    n++
    v = Math.floor(v / 128)
  }
  return n
}

export function writeUvarint(buf: Uint8Array, pos: number, value: ActionId): number {
  if (typeof value === 'bigint') {
    let v = value
    while (v >= 0x80n) {
      buf[pos++] = Number(v & 0x7fn) | 0x80
      v >>= 7n
    }
    buf[pos++] = Number(v)
    return pos
  }
  let v = value
  while (v >= 0x80) {
    buf[pos++] = (v % 128) | 0x80
    v = Math.floor(v / 128)
  }
  buf[pos++] = v
  return pos
}

// ---- headers (header.go: k:v;k:v with : \n ; % escaped) ----

const ESCAPES: Record<string, string> = { ':': '%3A', '\n': '%0A', ';': '%3B', '%': '%25' }
const UNESCAPES: Record<string, string> = { '3A': ':', '0A': '\n', '3B': ';', '25': '%' }

export function escapeHeader(value: string): string {
  return value.replace(/[:\n;%]/g, (c) => ESCAPES[c])
}

export function unescapeHeader(value: string): string {
  return value.replace(/%(3A|0A|3B|25)/g, (_m, code: string) => UNESCAPES[code])
}

export function marshalHeaders(headers: HeaderList | undefined): Buffer {
  if (!headers || headers.length === 0) return EMPTY
  return Buffer.from(headers.map(([k, v]) => `${escapeHeader(k)}:${escapeHeader(v)}`).join(';'), 'utf8')
}

/** Header.Unmarshal: throws WireError BAD_HEADER on a pair without ':'. */
export function parseHeaders(bytes: Buffer | string, offset = 0): HeaderList {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('utf8')
  const out: HeaderList = []
  let rest = text
  while (rest.length > 0) {
    const sep = rest.indexOf(':')
    if (sep < 0) throw new WireError('BAD_HEADER', `header ${JSON.stringify(preview(rest))} has no ':' (stmp-go headers are k:v;k:v)`, offset)
    const key = unescapeHeader(rest.slice(0, sep))
    rest = rest.slice(sep + 1)
    const end = rest.indexOf(';')
    if (end === -1) {
      out.push([key, unescapeHeader(rest)])
      rest = ''
    } else {
      out.push([key, unescapeHeader(rest.slice(0, end))])
      rest = rest.slice(end + 1)
    }
  }
  return out
}

/** First value of `key` (exact case, as Header.Get), or case-insensitively when `loose`. */
export function headerGet(headers: HeaderList | undefined, key: string, loose = false): string | undefined {
  if (!headers) return undefined
  const k = loose ? key.toLowerCase() : key
  for (const [name, value] of headers) if ((loose ? name.toLowerCase() : name) === k) return value
  return undefined
}

/** Headers as one object for traces and meta (repeated keys joined with ", "). */
export function headerRecord(headers: HeaderList | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of headers ?? []) out[k] = Object.hasOwn(out, k) ? `${out[k]}, ${v}` : v
  return out
}

export function headerList(record: Record<string, string> | undefined): HeaderList {
  return Object.entries(record ?? {})
}

/** readNegotiate: the values of a comma list, `;q=` parameters dropped, trimmed. */
export function negotiateList(value: string | undefined): string[] {
  if (value === undefined) return []
  return value.split(',').map((v) => v.split(';')[0].trim()).filter((v) => v !== '')
}

// ---- actions ----

/** `0x1234` (uppercase hex digits, as stmp-go's ActionHex, with 0x). */
export function actionName(action: ActionId): string {
  if (typeof action === 'number' && action < 0x10000) return (ACTION_NAMES[action] ??= `0x${action.toString(16).toUpperCase()}`)
  return `0x${action.toString(16).toUpperCase()}`
}
const ACTION_NAMES: string[] = []

/** A numeric action written by a user: `0x1234` or decimal digits; undefined when it is a method name. */
export function parseActionId(text: string): ActionId | undefined {
  let big: bigint
  if (/^0x[0-9a-f]{1,16}$/i.test(text)) big = BigInt(text)
  else if (/^\d{1,20}$/.test(text)) big = BigInt(text)
  else return undefined
  if (big > 0xffffffffffffffffn) return undefined
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big
}

// ---- handshakes ----

export function encodeClientHandshake(headers: HeaderList, major = 1, minor = 0, message = ''): Buffer {
  return encodeHandshake((major << 4) | (minor & 0xf), headers, message)
}

export function encodeServerHandshake(status: number, headers: HeaderList, message: string): Buffer {
  return encodeHandshake(status, headers, message)
}

function encodeHandshake(byte: number, headers: HeaderList, message: string): Buffer {
  const h = marshalHeaders(headers)
  const m = Buffer.from(message, 'utf8')
  const out = Buffer.allocUnsafe(5 + uvarintSize(h.length) + h.length + uvarintSize(m.length) + m.length)
  MAGIC.copy(out, 0)
  out[4] = byte
  let pos = writeUvarint(out, 5, h.length)
  pos += h.copy(out, pos)
  pos = writeUvarint(out, pos, m.length)
  m.copy(out, pos)
  return out
}

/** The server's handshake as a WebSocket text message (Handshake.MarshalText). */
export function encodeServerHandshakeText(status: number, headers: HeaderList, message: string): Buffer {
  let text = `STMP${status.toString(16).toUpperCase()}`
  const h = marshalHeaders(headers)
  if (h.length > 0) text += `\nH${h.toString('utf8')}`
  if (message !== '') text += `\nM${message}`
  return Buffer.from(text, 'utf8')
}

/**
 * Reads a binary handshake at the start of `buf` (a stream's first bytes or a whole WebSocket
 * message). Returns undefined while incomplete, else the handshake and its length. Throws
 * WireError BAD_MAGIC / TOO_LARGE / BAD_HEADER / BAD_VARINT.
 */
export function decodeHandshake(buf: Buffer, side: 'client' | 'server', maxSize = DEFAULT_MAX_PACKET, base = 0): { handshake: Handshake; size: number } | undefined {
  const have = Math.min(buf.length, 4)
  if (!buf.subarray(0, have).equals(MAGIC.subarray(0, have))) {
    throw new WireError('BAD_MAGIC', `the ${side}'s handshake starts with ${JSON.stringify(buf.subarray(0, have).toString('latin1'))}, not "STMP" (not stmp-go 1.0)`, base, { closeCode: 1002 })
  }
  if (buf.length < 5) return undefined
  const out = { size: 0 }
  const hs = readUvarint(buf, 5, buf.length, out)
  if (hs === VARINT_INCOMPLETE) return undefined
  if (hs < 0) throw new WireError('BAD_VARINT', 'the handshake header size is not a valid uvarint', base + 5)
  if (hs > maxSize) throw new WireError('TOO_LARGE', `handshake header of ${hs} bytes is over the ${maxSize}-byte limit`, base + 5, { closeCode: 1009 })
  let pos = 5 + out.size
  if (buf.length < pos + hs) return undefined
  const headers = parseHeaders(buf.subarray(pos, pos + hs), base + pos)
  pos += hs
  const ms = readUvarint(buf, pos, buf.length, out)
  if (ms === VARINT_INCOMPLETE) return undefined
  if (ms < 0) throw new WireError('BAD_VARINT', 'the handshake message size is not a valid uvarint', base + pos)
  if (ms + hs > maxSize) throw new WireError('TOO_LARGE', `handshake of ${ms + hs} bytes is over the ${maxSize}-byte limit`, base + pos, { closeCode: 1009 })
  pos += out.size
  if (buf.length < pos + ms) return undefined
  const message = buf.toString('utf8', pos, pos + ms)
  pos += ms
  const byte = buf[4]
  const handshake: Handshake = side === 'client'
    ? { side, major: byte >> 4, minor: byte & 0xf, headers, message }
    : { side, status: byte, headers, message }
  return { handshake, size: pos }
}

/** The server's handshake in text (Handshake.UnmarshalText). Throws WireError. */
export function decodeServerHandshakeText(text: string, offset = 0): Handshake {
  if (!text.startsWith('STMP')) throw new WireError('BAD_MAGIC', `the server's handshake starts with ${JSON.stringify(text.slice(0, 4))}, not "STMP" (not stmp-go 1.0)`, offset)
  let rest = text.slice(4)
  let i = rest.indexOf('\n')
  if (i === -1) i = rest.length
  const status = parseHex(rest.slice(0, i), 0xff, 'handshake status', offset)
  const hs: Handshake = { side: 'server', status, headers: [], message: '' }
  rest = i === rest.length ? '' : rest.slice(i + 1)
  if (rest.startsWith('H')) {
    i = rest.indexOf('\n')
    if (i === -1) i = rest.length
    hs.headers = parseHeaders(rest.slice(1, i), offset)
    rest = i === rest.length ? '' : rest.slice(i + 1)
  }
  if (rest.startsWith('M')) hs.message = rest.slice(1)
  return hs
}

// ---- packets, binary ----

function hasMid(kind: PacketKind): boolean {
  return kind === 'request' || kind === 'response'
}
function hasStatus(kind: PacketKind): boolean {
  return kind === 'response' || kind === 'close'
}
function hasAction(kind: PacketKind): boolean {
  return kind === 'request' || kind === 'notify'
}
function hasHeader(kind: PacketKind): boolean {
  return kind === 'request' || kind === 'notify' || kind === 'response'
}
function hasPayload(kind: PacketKind): boolean {
  return kind !== 'ping' && kind !== 'pong'
}

/** Bytes of a packet: `stream` writes the payload's length (Packet.Write), WebSocket does not (MarshalBinary). */
export function encodePacket(p: Packet, stream: boolean): Buffer {
  const headers = hasHeader(p.kind) ? marshalHeaders(p.headers) : EMPTY
  const out = Buffer.allocUnsafe(packetSize(p, stream, headers))
  encodePacketInto(p, stream, headers, out, 0)
  return out
}

/** The size encodePacket gives (`headers`: marshalHeaders(p.headers), computed once). */
export function packetSize(p: Packet, stream: boolean, headers: Buffer): number {
  const payload = hasPayload(p.kind) ? p.payload : EMPTY
  let size = 1
  if (hasMid(p.kind)) size += 2
  if (hasStatus(p.kind)) size += 1
  if (hasAction(p.kind)) {
    if (p.method !== undefined) {
      const n = Buffer.byteLength(p.method)
      size += uvarintSize(n) + n
    } else size += uvarintSize(p.action ?? 0)
  }
  if (headers.length > 0) size += uvarintSize(headers.length) + headers.length
  if (payload.length > 0) size += (stream ? uvarintSize(payload.length) : 0) + payload.length
  return size
}

/** Writes the packet at `pos` of `out` (exactly packetSize bytes); returns the end. */
export function encodePacketInto(p: Packet, stream: boolean, headers: Buffer, out: Buffer, start: number): number {
  const payload = hasPayload(p.kind) ? p.payload : EMPTY
  let head = 0x80 | (KIND[p.kind] << 4)
  if (payload.length > 0) head |= FLAG_PAYLOAD
  if (headers.length > 0) head |= FLAG_HEADER
  if (hasAction(p.kind) && p.method !== undefined) head |= FLAG_STRING_ACTION
  out[start] = head
  let pos = start + 1
  if (hasMid(p.kind)) {
    const mid = p.mid ?? 0
    out[pos] = mid & 0xff
    out[pos + 1] = (mid >> 8) & 0xff
    pos += 2
  }
  if (hasStatus(p.kind)) out[pos++] = (p.status ?? 0) & 0xff
  if (hasAction(p.kind)) {
    if (p.method !== undefined) {
      const n = Buffer.byteLength(p.method)
      pos = writeUvarint(out, pos, n)
      pos += out.write(p.method, pos, 'utf8')
    } else pos = writeUvarint(out, pos, p.action ?? 0)
  }
  if (headers.length > 0) {
    pos = writeUvarint(out, pos, headers.length)
    pos += headers.copy(out, pos)
  }
  if (payload.length > 0) {
    if (stream) pos = writeUvarint(out, pos, payload.length)
    pos += payload.copy(out, pos)
  }
  return pos
}

/** Result of a packet read from a stream buffer: the packet and its size, or undefined (incomplete). */
export interface PacketRead {
  packet: Packet
  size: number
}

/** Checks a head byte (UnmarshalHead): throws WireError BAD_HEAD. */
export function checkHead(h: number, offset: number): PacketKind {
  if ((h & 0x80) === 0 || (h & 1) !== 0) throw new WireError('BAD_HEAD', `head byte 0x${hex2(h)}: invalid reserved head bits (FIN must be 1, bit 0 must be 0)`, offset)
  const code = (h >> 4) & 7
  if (code > 5) throw new WireError('BAD_KIND', `head byte 0x${hex2(h)}: invalid message kind ${code}`, offset)
  const kind = KIND_NAMES[code]
  if (((h & FLAG_PAYLOAD) !== 0 && !hasPayload(kind)) || ((h & FLAG_HEADER) !== 0 && !hasHeader(kind)) || ((h & FLAG_STRING_ACTION) !== 0 && !hasAction(kind))) {
    throw new WireError('BAD_HEAD', `head byte 0x${hex2(h)}: invalid head flags for a ${kind}`, offset)
  }
  return kind
}

const varOut: { size: number; big?: bigint } = { size: 0 }

/**
 * One packet from `buf` at `start` (up to `end`). `stream`: the payload has its length
 * (Packet.Read); else the payload is the rest of the message (UnmarshalBinary) and a short
 * message is an error, not "incomplete". Throws WireError with offsets from `base`.
 */
export function decodePacket(buf: Buffer, start: number, end: number, stream: boolean, maxSize = DEFAULT_MAX_PACKET, base = 0): PacketRead | undefined {
  const at = (pos: number) => base + pos - start
  const short = (what: string): undefined => {
    if (stream) return undefined
    throw new WireError('TRUNCATED', `the message ends inside the packet's ${what}`, at(end))
  }
  if (start >= end) return short('head')
  const head = buf[start]
  const kind = checkHead(head, at(start))
  let pos = start + 1
  const p: Packet = { kind, payload: EMPTY }
  if (hasMid(kind)) {
    if (pos + 2 > end) return short('mid')
    p.mid = buf[pos] | (buf[pos + 1] << 8)
    pos += 2
  }
  if (hasStatus(kind)) {
    if (pos + 1 > end) return short('status')
    p.status = buf[pos++]
  }
  let ms = 0
  if ((head & FLAG_STRING_ACTION) !== 0) {
    const n = readUvarint(buf, pos, end, varOut)
    if (n === VARINT_INCOMPLETE) return short('method size')
    if (n < 0) throw new WireError('BAD_VARINT', 'the method size is not a valid uvarint', at(pos))
    if (n > maxSize) throw tooLarge(kind, p, n, maxSize, at(pos))
    ms = n
    pos += varOut.size
    if (pos + n > end) return short('method')
    p.method = buf.toString('utf8', pos, pos + n)
    pos += n
  } else if (hasAction(kind)) {
    const n = readUvarint(buf, pos, end, varOut)
    if (n === VARINT_INCOMPLETE) return short('action')
    if (n === VARINT_BIG) p.action = varOut.big as bigint
    else if (n < 0) throw new WireError('BAD_VARINT', 'the action is not a valid uvarint (over 64 bits)', at(pos))
    else p.action = n
    pos += varOut.size
  }
  let hs = 0
  if ((head & FLAG_HEADER) !== 0) {
    const n = readUvarint(buf, pos, end, varOut)
    if (n === VARINT_INCOMPLETE) return short('header size')
    if (n < 0) throw new WireError('BAD_VARINT', 'the header size is not a valid uvarint', at(pos))
    if (n + ms > maxSize) throw tooLarge(kind, p, n + ms, maxSize, at(pos))
    hs = n
    pos += varOut.size
    if (pos + n > end) return short('header')
    p.headers = parseHeaders(buf.subarray(pos, pos + n), at(pos))
    pos += n
  }
  if ((head & FLAG_PAYLOAD) !== 0) {
    if (stream) {
      const n = readUvarint(buf, pos, end, varOut)
      if (n === VARINT_INCOMPLETE) return undefined
      if (n < 0) throw new WireError('BAD_VARINT', 'the payload size is not a valid uvarint', at(pos))
      if (n + hs + ms > maxSize) throw tooLarge(kind, p, n + hs + ms, maxSize, at(pos))
      pos += varOut.size
      if (pos + n > end) return undefined
      p.payload = buf.subarray(pos, pos + n)
      pos += n
    } else {
      if (end - pos + hs + ms > maxSize) throw tooLarge(kind, p, end - pos + hs + ms, maxSize, at(pos))
      p.payload = buf.subarray(pos, end)
      pos = end
    }
  }
  if (!stream && pos !== end) throw new WireError('BAD_PAYLOAD_FLAG', `${end - pos} bytes after a packet without the payload flag (invalid packet payload)`, at(pos))
  return { packet: p, size: pos - start }
}

function tooLarge(kind: PacketKind, p: Packet, size: number, max: number, offset: number): WireError {
  return new WireError('TOO_LARGE', `a ${kind} packet of ${size} bytes (method + header + payload) is over the ${max}-byte limit`, offset, { closeCode: 1009, kind: kind === 'request' ? 'request' : kind, messageId: p.mid })
}

// ---- packets, text ----

export function encodePacketText(p: Packet): Buffer {
  let text = TEXT_KIND[p.kind]
  if (hasMid(p.kind)) text += `${hexUpper(p.mid ?? 0)}:`
  if (hasStatus(p.kind)) text += hexUpper(p.status ?? 0)
  if (hasAction(p.kind)) text += p.method !== undefined ? `M:${escapeHeader(p.method)}` : hexUpper(p.action ?? 0)
  if (hasHeader(p.kind) && p.headers && p.headers.length > 0) text += `\nH${marshalHeaders(p.headers).toString('utf8')}`
  const head = Buffer.from(text, 'utf8')
  if (!hasPayload(p.kind) || p.payload.length === 0) return head
  return Buffer.concat([head, Buffer.from('\nP', 'latin1'), p.payload])
}

/** Packet.UnmarshalText. The payload is the bytes after `\nP` (not re-encoded). Throws WireError. */
export function decodePacketText(buf: Buffer, maxSize = DEFAULT_MAX_PACKET, base = 0): Packet {
  if (buf.length === 0) throw new WireError('BAD_HEAD', 'an empty text packet', base)
  const kind = KIND_OF_TEXT[String.fromCharCode(buf[0])]
  if (kind === undefined) throw new WireError('BAD_KIND', `text packet kind ${JSON.stringify(String.fromCharCode(buf[0]))} is not one of I O Q N S C`, base)
  if (buf.length - 1 > maxSize + 64) throw new WireError('TOO_LARGE', `a text ${kind} packet of ${buf.length} bytes is over the ${maxSize}-byte limit`, base, { closeCode: 1009 })
  const p: Packet = { kind, payload: EMPTY }
  let pos = 1
  const lineEnd = (from: number) => {
    const i = buf.indexOf(0x0a, from)
    return i === -1 ? buf.length : i
  }
  if (hasMid(kind)) {
    const colon = buf.subarray(pos, Math.min(pos + 5, buf.length)).indexOf(0x3a)
    if (colon === -1) throw new WireError('BAD_MID', 'a text packet mid must be hex followed by ":"', base + pos)
    p.mid = parseHex(buf.toString('latin1', pos, pos + colon), 0xffff, 'mid', base + pos)
    pos += colon + 1
  }
  if (hasStatus(kind)) {
    const i = lineEnd(pos)
    p.status = parseHex(buf.toString('latin1', pos, i), 0xff, 'status', base + pos)
    pos = i === buf.length ? i : i + 1
  }
  if (hasAction(kind)) {
    const i = lineEnd(pos)
    if (i - pos > 2 && buf[pos] === 0x4d && buf[pos + 1] === 0x3a) p.method = buf.toString('utf8', pos + 2, i)
    else p.action = parseHexAction(buf.toString('latin1', pos, i), base + pos)
    pos = i === buf.length ? i : i + 1
  }
  if (hasHeader(kind) && pos < buf.length && buf[pos] === 0x48) {
    const i = lineEnd(pos)
    p.headers = parseHeaders(buf.subarray(pos + 1, i), base + pos + 1)
    pos = i === buf.length ? i : i + 1
  }
  if (hasPayload(kind) && pos < buf.length && buf[pos] === 0x50) {
    p.payload = buf.subarray(pos + 1)
    pos = buf.length
  }
  if (pos < buf.length) throw new WireError('BAD_PAYLOAD_FLAG', `${buf.length - pos} bytes left in a text ${kind} packet (invalid packet payload)`, base + pos)
  return p
}

function parseHex(text: string, max: number, what: string, offset: number): number {
  if (!/^[0-9A-Fa-f]{1,16}$/.test(text)) throw new WireError('BAD_NUMBER', `text packet ${what} ${JSON.stringify(preview(text))} is not hex`, offset)
  const n = Number.parseInt(text, 16)
  if (n > max) throw new WireError('BAD_NUMBER', `text packet ${what} 0x${text} is over 0x${max.toString(16)}`, offset)
  return n
}

function parseHexAction(text: string, offset: number): ActionId {
  if (!/^[0-9A-Fa-f]{1,16}$/.test(text)) throw new WireError('BAD_NUMBER', `text packet action ${JSON.stringify(preview(text))} is not hex`, offset)
  const big = BigInt(`0x${text}`)
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big
}

function hexUpper(n: ActionId): string {
  return n.toString(16).toUpperCase()
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0')
}

export function preview(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}...` : text
}

/**
 * Packets from a stream, fed in chunks (Packet.Read over a byte stream). Holds a partial packet
 * (at most maxSize plus its head) between chunks. `onPacket` gets each packet and its offset.
 */
export class PacketStream {
  private held: Buffer = EMPTY
  /** Offset of `held[0]` in the direction's bytes. */
  private base = 0

  constructor(
    private readonly onPacket: (packet: Packet, offset: number, size: number) => void,
    private readonly maxSize = DEFAULT_MAX_PACKET,
  ) {}

  get buffered(): number {
    return this.held.length
  }

  /** The offset of the next byte expected. */
  get position(): number {
    return this.base + this.held.length
  }

  skip(bytes: number): void {
    this.base += bytes
  }

  write(data: Buffer): void {
    let buf = data
    if (this.held.length > 0) buf = Buffer.concat([this.held, data])
    this.held = EMPTY
    let pos = 0
    const end = buf.length
    while (pos < end) {
      const r = decodePacket(buf, pos, end, true, this.maxSize, this.base)
      if (r === undefined) break
      const offset = this.base
      pos += r.size
      this.base += r.size
      this.onPacket(r.packet, offset, r.size)
    }
    if (pos < end) this.held = pos === 0 && buf === data ? Buffer.from(data) : Buffer.from(buf.subarray(pos))
  }

  /** Bytes left over when the stream ends (a packet cut short). */
  rest(): Buffer {
    return this.held
  }
}
