import { StmpError, WireError } from '../../errors.js'
import { MsgpackCodec } from '../../payload/msgpack.js'
import { ProtobufCodec, type ProtoRegistry } from '../../payload/protobuf.js'
import { type ActionTable, actionTable, nameOfAction } from './actions.js'
import type { CaptureDecoder, CaptureDecoderContext, CaptureSupport, DecodedFrame, SniffInput } from '../types.js'
import {
  DEFAULT_MAX_PACKET, type Handshake, MAGIC, type Packet, PacketStream, actionName, closeCodeOf, decodeHandshake, decodePacket,
  decodePacketText, decodeServerHandshakeText, headerGet, headerRecord, negotiateList, statusName, statusOf,
} from './codec.js'
import { Inflater, isGzipStart } from './gzip.js'

/**
 * Reading stmp-go in captures (wire notes §1). On a stream each direction starts with its
 * handshake (`STMP`...), then packets back to back; after a handshake that agreed gzip (the
 * server's `Content-Encoding: gzip`, seen as the gzip magic where the first packet would be)
 * the rest of the direction is one gzip stream, inflated here. On WebSocket the server's first
 * message is its handshake (binary, or text when the format is text); every other message is one
 * packet, binary or text (a text packet starts with a letter, a binary one with a byte >= 0x80).
 */

/** How sure: the `STMP` magic starting a stream, or `Stmp-Version` in a WebSocket upgrade. */
export function sniff(first: SniffInput): 0 | 1 | 2 {
  if (first.framing === 'websocket') {
    const url = first.upgrade?.url ?? ''
    const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '')
    const server = first.server
    if (server && startsWithMagic(server)) return 2
    if (query.has('Stmp-Version')) return 2
    return 0
  }
  const c = first.client
  const s = first.server
  if (c && c.length >= 5 && startsWithMagic(c)) return 2
  if (s && s.length >= 5 && startsWithMagic(s)) return 2
  if (c && c.length < 5 && c.length > 0 && MAGIC.subarray(0, c.length).equals(c)) return 1
  return 0
}

function startsWithMagic(b: Buffer): boolean {
  return b.length >= 4 && b[0] === 0x53 && b[1] === 0x54 && b[2] === 0x4d && b[3] === 0x50
}

type Fields = DecodedFrame

/** A packet as `decode` and traces show it: stmp-go's kind and fields, stmpcat's status beside the wire one. */
export function packetFields(p: Packet, codec?: ContentDecoder): Record<string, unknown> & { kind: string } {
  const f: Record<string, unknown> & { kind: string } = { kind: p.kind }
  if (p.mid !== undefined) f.id = p.mid
  if (p.action !== undefined) f.action = actionName(p.action)
  if (p.method !== undefined) f.method = p.method
  if (p.status !== undefined) {
    f.status = p.kind === 'close' ? closeCodeOf(p.status) : statusOf(p.status)
    f.wireStatus = `0x${p.status.toString(16).padStart(2, '0')} ${statusName(p.status)}`
  }
  if (p.headers && p.headers.length > 0) f.headers = headerRecord(p.headers)
  if (p.kind === 'close' || (p.kind === 'response' && p.status !== 0)) {
    if (p.payload.length > 0) f.message = p.payload.toString('utf8')
    return f
  }
  if (p.payload.length > 0) {
    f.payload = p.payload
    const value = codec?.(p.payload)
    if (value !== undefined) f.value = value
  }
  return f
}

/** Payloads that are not JSON text shown as their value (msgpack, protobuf's wire fields); undefined leaves the bytes. */
type ContentDecoder = (payload: Buffer) => unknown

function contentDecoder(contentType: string | undefined): ContentDecoder | undefined {
  if (contentType === undefined) return undefined
  const type = contentType.split(';')[0].trim().toLowerCase()
  if (type === 'application/msgpack' || type === 'application/x-msgpack') {
    const codec = new MsgpackCodec()
    return (payload) => {
      try {
        return codec.decode(payload)
      } catch {
        return undefined
      }
    }
  }
  if (type === 'application/protobuf' || type === 'application/x-protobuf') {
    return (payload) => {
      const fields = protobufFields(payload, 0)
      return fields === undefined ? undefined : { protobuf: fields }
    }
  }
  return undefined
}

/**
 * A protobuf payload without its .proto: the wire fields by number (varints as numbers,
 * fixed64 as the double they would be, length-delimited as a nested message when they parse as
 * one, else text or hex). A view for reading a capture, not a typed decode; undefined when the
 * bytes are not protobuf at all. Bounded: 4 levels, 256 fields a level.
 */
export function protobufFields(b: Buffer, depth: number): Record<string, unknown> | undefined {
  const out: Record<string, unknown[]> = {}
  let pos = 0
  let count = 0
  const varint = (): number | undefined => {
    let v = 0
    let mul = 1
    for (let i = 0; i < 10 && pos < b.length; i++) {
      const byte = b[pos++]
      v += (byte & 0x7f) * mul
      mul *= 128
      if ((byte & 0x80) === 0) return v
    }
    return undefined
  }
  while (pos < b.length) {
    if (++count > 256) return undefined
    const key = varint()
    if (key === undefined || key < 8) return undefined
    const field = Math.floor(key / 8)
    const wire = key % 8
    let value: unknown
    if (wire === 0) {
      value = varint()
      if (value === undefined) return undefined
    } else if (wire === 1) {
      if (pos + 8 > b.length) return undefined
      value = b.readDoubleLE(pos)
      pos += 8
    } else if (wire === 5) {
      if (pos + 4 > b.length) return undefined
      value = b.readFloatLE(pos)
      pos += 4
    } else if (wire === 2) {
      const n = varint()
      if (n === undefined || pos + n > b.length) return undefined
      const bytes = b.subarray(pos, pos + n)
      pos += n
      const nested = depth < 4 && n > 0 ? protobufFields(bytes, depth + 1) : undefined
      const text = bytes.toString('utf8')
      // eslint-disable-next-line no-control-regex
      value = nested ?? (Buffer.from(text, 'utf8').equals(bytes) && !/[\u0000-\u0008\u000e-\u001f]/.test(text) ? text : bytes.toString('hex'))
    } else return undefined
    ;(out[field] ??= []).push(value)
  }
  const flat: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(out)) flat[k] = v.length === 1 ? v[0] : v
  return flat
}

export function handshakeFields(h: Handshake): Record<string, unknown> & { kind: string } {
  if (h.side === 'client') {
    return { kind: 'handshake', version: `${h.major}.${h.minor}`, headers: headerRecord(h.headers), ...(h.message ? { message: h.message } : {}) }
  }
  const status = h.status ?? 0
  return {
    kind: 'handshake', status: statusOf(status), wireStatus: `0x${status.toString(16).padStart(2, '0')} ${statusName(status)}`,
    headers: headerRecord(h.headers), ...(h.message ? { message: h.message } : {}),
  }
}

export const capture: CaptureSupport = {
  sniff,
  decoder(context) {
    const side = context.direction
    const query = queryOf(context.upgrade?.url)
    let content: ContentDecoder | undefined
    const typed = typedPayloads(context)
    let protobuf = false
    const setContent = (type: string | undefined) => {
      content = contentDecoder(type)
      protobuf = type !== undefined && /^application\/(x-)?protobuf\b/i.test(type.trim())
    }
    if (context.framing === 'websocket') setContent(negotiateList(query.get('Accept') ?? undefined)[0] ?? (query.get('Packet-Format') === 'text' ? 'application/json' : 'application/protobuf'))
    const fields = (p: Packet) => (typed ? typed.fields(p, side, protobuf, content) : packetFields(p, content))
    let handshakeDone = context.framing === 'websocket' && side === 'client'
    let held: Buffer = Buffer.alloc(0)
    let heldAt = 0
    let inflater: Inflater | undefined
    let gzipChecked = false
    let failed = false
    let inflatedAt = 0
    const emit = (fields: Record<string, unknown> & { kind: string }, offset: number, length: number) => decoder.onFrame?.({ ...fields, offset, length } as Fields)
    const fail = (err: unknown, offset: number, bytes?: Buffer) => {
      const e = err as { code?: string; message?: string; offset?: number }
      const code = err instanceof StmpError ? err.code : (e.code ?? 'BAD_PACKET')
      decoder.onError?.({ code, message: e.message ?? String(err), offset: e.offset ?? offset, bytes })
    }
    let closeSeen = false
    const packets = new PacketStream((p, offset, size) => {
      if (p.kind === 'close') closeSeen = true
      emit(fields(p), inflater ? inflatedAt : offset, inflater ? 0 : size)
    }, DEFAULT_MAX_PACKET)
    const decoder: CaptureDecoder = {
      write(data, offset, text) {
        if (failed) return
        try {
          if (context.framing === 'websocket') return writeMessage(data, offset, text)
          writeStream(data, offset)
        } catch (err) {
          // One bad byte on a stream: what follows cannot be framed; the direction stops here.
          if (context.framing === 'stream') failed = true
          fail(err, offset, data)
        }
      },
      end(reason) {
        if (failed || context.framing === 'websocket') return
        const left = handshakeDone ? packets.buffered : held.length
        const cut = packets.rest()
        if (handshakeDone && closeSeen && left > 0 && !inflater && (cut[0] & 0xf0) === 0xd0) {
          // stmp-go's second Close (quirk: its reader fails after the close handshake and it writes
          // a Close into the socket the peer has shut): its head went out, the rest met the reset.
          emit({ kind: 'close', ...(cut.length > 1 ? { wireStatus: `0x${cut[1].toString(16).padStart(2, '0')} ${statusName(cut[1])}` } : {}), cut: `${left} bytes (stmp-go's second Close after the close handshake, cut by the peer's close)` }, packets.position, left)
          return
        }
        if (left > 0) decoder.onError?.({ code: 'TRUNCATED', message: `${left} bytes of a ${handshakeDone ? 'packet' : 'handshake'} before the connection ${reason === 'close' ? 'closed' : 'ended in the capture'}`, offset: handshakeDone ? packets.position : heldAt })
      },
    }

    function writeMessage(data: Buffer, offset: number, text: boolean): void {
      if (!handshakeDone) {
        handshakeDone = true
        let h: Handshake
        if (text) {
          h = decodeServerHandshakeText(data.toString('utf8'), offset)
        } else {
          const r = decodeHandshake(data, 'server', DEFAULT_MAX_PACKET, offset)
          if (r === undefined) throw new WireError('TRUNCATED', 'the server\'s handshake message ends inside the handshake', offset)
          h = r.handshake
        }
        setContent(headerGet(h.headers, 'Content-Type'))
        // The client's handshake headers were the upgrade's query (there is no client message).
        const request = Object.fromEntries(query)
        emit({ ...handshakeFields(h), ...(Object.keys(request).length > 0 ? { request } : {}) }, offset, data.length)
        return
      }
      // Text packets start with their kind letter; binary heads have bit 7 set.
      const p = data.length > 0 && data[0] < 0x80 ? decodePacketText(data, DEFAULT_MAX_PACKET, offset) : decodePacket(data, 0, data.length, false, DEFAULT_MAX_PACKET, offset)!.packet
      emit(fields(p), offset, data.length)
    }

    function writeStream(data: Buffer, offset: number): void {
      let rest = data
      let at = offset
      if (!handshakeDone) {
        if (held.length === 0) heldAt = offset
        held = held.length > 0 ? Buffer.concat([held, data]) : data
        const r = decodeHandshake(held, side, DEFAULT_MAX_PACKET, heldAt)
        if (r === undefined) {
          held = Buffer.from(held)
          return
        }
        handshakeDone = true
        const h = r.handshake
        setContent(side === 'server' ? headerGet(h.headers, 'Content-Type') : negotiateList(headerGet(h.headers, 'Accept'))[0] ?? 'application/protobuf')
        emit(handshakeFields(h), heldAt, r.size)
        rest = held.subarray(r.size)
        at = heldAt + r.size
        held = Buffer.alloc(0)
        packets.skip(at)
        if (rest.length === 0) return
      }
      if (!gzipChecked) {
        // A gzip stream starts 1f 8b; no packet head does (bit 7 is always set).
        if (rest.length < 2 && rest[0] === 0x1f) {
          held = Buffer.from(rest)
          return
        }
        if (held.length > 0) {
          rest = Buffer.concat([held, rest])
          held = Buffer.alloc(0)
        }
        gzipChecked = true
        if (isGzipStart(rest)) inflater = new Inflater(DEFAULT_MAX_PACKET * 2)
      }
      if (inflater) {
        inflatedAt = at
        packets.write(inflater.inflate(rest, at))
        return
      }
      packets.write(rest)
    }

    return decoder
  },
}

function queryOf(url: string | undefined): URLSearchParams {
  if (url === undefined || !url.includes('?')) return new URLSearchParams()
  return new URLSearchParams(url.slice(url.indexOf('?') + 1))
}

/**
 * `decode --proto`: actions named by the services' table (as the live Wire names them) and
 * protobuf payloads decoded as the method's types: a request's input, a Notify's input (an
 * `...Events` method the server calls), a response's output, found by the mid of the request
 * the other direction sent (kept in the connection's shared object, at most one per mid).
 */
interface TypedPayloads {
  fields(p: Packet, side: 'client' | 'server', protobuf: boolean, content: ContentDecoder | undefined): Record<string, unknown> & { kind: string }
}

const typedCache = new WeakMap<ProtoRegistry, { table: ActionTable; codec: ProtobufCodec }>()

function typedPayloads(context: CaptureDecoderContext): TypedPayloads | undefined {
  const registry = context.protoRegistry
  if (registry === undefined) return undefined
  let t = typedCache.get(registry)
  if (!t) typedCache.set(registry, (t = { table: actionTable(registry), codec: new ProtobufCodec(registry) }))
  const { table, codec } = t
  const shared = context.shared ?? {}
  const asked = (shared.stmpGoAsked ??= { client: new Map<number, string>(), server: new Map<number, string>() }) as Record<'client' | 'server', Map<number, string>>
  return {
    fields(p, side, protobuf, content) {
      const f = packetFields(p, protobuf ? undefined : content)
      let name: string | undefined
      let role: 'request' | 'response' | 'push' | undefined
      if ((p.kind === 'request' || p.kind === 'notify') && p.action !== undefined) {
        name = nameOfAction(p.action, table)
        if (name !== f.action) {
          f.actionId = f.action
          f.action = name
        }
        role = p.kind === 'request' ? 'request' : 'push'
      } else if (p.kind === 'request' || p.kind === 'notify') {
        name = p.method
        role = p.kind === 'request' ? 'request' : 'push'
      }
      if (p.kind === 'request' && p.mid !== undefined && name !== undefined) asked[side].set(p.mid, name)
      if (p.kind === 'response' && p.mid !== undefined) {
        const other = side === 'client' ? 'server' : 'client'
        name = asked[other].get(p.mid)
        asked[other].delete(p.mid)
        if (name !== undefined) f.method = name
        role = 'response'
      }
      if (protobuf && f.payload !== undefined && name !== undefined && role !== undefined) {
        try {
          f.value = codec.decode(f.payload as Buffer, { action: name, role })
        } catch (err) {
          // Not a method of the .proto (or not its type): the wire fields, and why.
          const raw = protobufFields(f.payload as Buffer, 0)
          if (raw !== undefined) f.value = { protobuf: raw }
          f.protoError = err instanceof Error ? err.message : String(err)
        }
      } else if (protobuf && f.payload !== undefined) {
        const raw = protobufFields(f.payload as Buffer, 0)
        if (raw !== undefined) f.value = { protobuf: raw }
      }
      return f
    },
  }
}
