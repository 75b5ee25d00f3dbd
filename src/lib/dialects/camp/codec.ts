import { isUtf8 } from 'node:buffer'
import { WireError } from '../../errors.js'

/**
 * CAMP's frames (wire notes §4; Ranchonyx/CAMP-Protocol 1.1.4, CAMP-Server 1.0.7). Exactly one
 * frame per WebSocket binary message; every integer big-endian; every frame starts with the
 * session id (u64, chosen by the client in the upgrade's `x-CAMP-sid`, echoed by the server)
 * and a type byte. Pure: no I/O, no state.
 *
 *   0xFF ENDPOINT_INFO  ack u32, version u32, flags u64 (bit 0: transactions)
 *   0xFE BYE            ack u32, reason UTF-8
 *   0xFD ACK            acked u32
 *   0xFC ERROR          ack u32, text UTF-8
 *   0xFB PING_PONG      "ping" / "pong" (no ack)
 *   0xFA UTF8DATA       ack u32, text UTF-8
 *   0xF9 BINARYDATA     ack u32, bytes
 *   0x00 TX_START       ack u32, txId u32, size i64 (-1: unknown), behaviour u8 (0 push, 1 pull), name UTF-8
 *   0x01 TX_CHUNK       txId u32, offset u64, bytes (no ack)
 *   0x02 TX_FINISH      ack u32, txId u32
 *   0x03 TX_FETCH       ack u32, txId u32, start u64, end u64
 *   0x04 TX_CANCEL      ack u32, txId u32
 */

export const TYPE = {
  ENDPOINT_INFO: 0xff,
  BYE: 0xfe,
  ACK: 0xfd,
  ERROR: 0xfc,
  PING_PONG: 0xfb,
  UTF8DATA: 0xfa,
  BINARYDATA: 0xf9,
  TX_START: 0x00,
  TX_CHUNK: 0x01,
  TX_FINISH: 0x02,
  TX_FETCH: 0x03,
  TX_CANCEL: 0x04,
} as const

export const KIND_OF_TYPE: Record<number, string> = {
  [TYPE.ENDPOINT_INFO]: 'endpoint-info',
  [TYPE.BYE]: 'bye',
  [TYPE.ACK]: 'ack',
  [TYPE.ERROR]: 'error',
  [TYPE.PING_PONG]: 'ping-pong',
  [TYPE.UTF8DATA]: 'utf8',
  [TYPE.BINARYDATA]: 'binary',
  [TYPE.TX_START]: 'tx-start',
  [TYPE.TX_CHUNK]: 'tx-chunk',
  [TYPE.TX_FINISH]: 'tx-finish',
  [TYPE.TX_FETCH]: 'tx-fetch',
  [TYPE.TX_CANCEL]: 'tx-cancel',
}

/** The version this side speaks and checks (CAMP_PROTOCOL_VERSION). */
export const CAMP_VERSION = 1
/** ENDPOINT_INFO flags bit 0: the endpoint handles Transaction frames. */
export const FEATURE_TRANSACTIONS = 1n
/** CAMP_MAX_PAYLOAD: the largest payload (and, in the code, name) a frame carries. */
export const MAX_PAYLOAD = 1024 * 1024
/** sid + type. */
export const HEADER = 9
/** The close codes of CAMP-Server (CloseCode): graceful, the client's error, the server's error. */
export const CLOSE = { GRACEFUL: 4000, CLIENT_ERROR: 4001, SERVER_ERROR: 4002 } as const
export const BEHAVIOUR = { PUSH: 0, PULL: 1 } as const

export type Frame =
  | { kind: 'endpoint-info'; sid: bigint; ack: number; version: number; flags: bigint }
  | { kind: 'bye'; sid: bigint; ack: number; reason: string }
  | { kind: 'ack'; sid: bigint; acked: number }
  | { kind: 'error'; sid: bigint; ack: number; message: string }
  | { kind: 'ping' | 'pong'; sid: bigint }
  | { kind: 'utf8'; sid: bigint; ack: number; payload: Buffer }
  | { kind: 'binary'; sid: bigint; ack: number; payload: Buffer }
  | { kind: 'tx-start'; sid: bigint; ack: number; txId: number; size: bigint; behaviour: number; name: string }
  | { kind: 'tx-chunk'; sid: bigint; txId: number; offset: bigint; payload: Buffer }
  | { kind: 'tx-finish'; sid: bigint; ack: number; txId: number }
  | { kind: 'tx-fetch'; sid: bigint; ack: number; txId: number; start: bigint; end: bigint }
  | { kind: 'tx-cancel'; sid: bigint; ack: number; txId: number }

export type FrameKind = Frame['kind']

/** Kinds the receiver acknowledges (CAMPServerWebsocketSession.send tracks these, plus BYE). */
export function needsAck(kind: FrameKind): boolean {
  return kind !== 'ack' && kind !== 'ping' && kind !== 'pong' && kind !== 'tx-chunk'
}

/** The fixed part after the header, per type: the shortest frame of that type is HEADER + this. */
const FIXED: Record<number, number> = {
  [TYPE.ENDPOINT_INFO]: 16,
  [TYPE.BYE]: 4,
  [TYPE.ACK]: 4,
  [TYPE.ERROR]: 4,
  [TYPE.PING_PONG]: 4,
  [TYPE.UTF8DATA]: 4,
  [TYPE.BINARYDATA]: 4,
  [TYPE.TX_START]: 17,
  [TYPE.TX_CHUNK]: 12,
  [TYPE.TX_FINISH]: 8,
  [TYPE.TX_FETCH]: 24,
  [TYPE.TX_CANCEL]: 8,
}

/** Whether `type` is a CAMP frame type. */
export function isType(type: number): boolean {
  return FIXED[type] !== undefined
}

/**
 * One WebSocket message to a frame. Throws WireError: SHORT_FRAME (shorter than its type's fixed
 * part), BAD_KIND (an unknown type, a PING_PONG that is neither "ping" nor "pong"), TOO_LARGE
 * (a payload or name over MAX_PAYLOAD), BAD_UTF8 (text that is not UTF-8), BAD_FRAME (an
 * ENDPOINT_INFO or TX frame with trailing bytes, a TX_START behaviour other than 0 and 1).
 * `offset` is where the message starts (error offsets add to it).
 */
export function decodeFrame(data: Buffer, offset = 0, maxPayload = MAX_PAYLOAD): Frame {
  if (data.length < HEADER) throw new WireError('SHORT_FRAME', `a CAMP frame is at least ${HEADER} bytes (sid u64, type u8); this one is ${data.length}`, offset)
  const sid = data.readBigUInt64BE(0)
  const type = data[8]
  const fixed = FIXED[type]
  if (fixed === undefined) throw new WireError('BAD_KIND', `unknown CAMP frame type 0x${type.toString(16).padStart(2, '0')}`, offset + 8)
  const name = KIND_OF_TYPE[type]
  if (data.length < HEADER + fixed) throw new WireError('SHORT_FRAME', `a CAMP ${name} frame is at least ${HEADER + fixed} bytes; this one is ${data.length}`, offset)
  const rest = data.length - HEADER - fixed
  const exact = () => {
    if (rest !== 0) throw new WireError('BAD_FRAME', `a CAMP ${name} frame is exactly ${HEADER + fixed} bytes; this one is ${data.length}`, offset + HEADER + fixed)
  }
  const tail = () => {
    if (rest > maxPayload) throw new WireError('TOO_LARGE', `a CAMP ${name} payload of ${rest} bytes (at most ${maxPayload})`, offset + HEADER + fixed)
    return data.subarray(HEADER + fixed)
  }
  const text = (what: string) => {
    const bytes = tail()
    if (!isUtf8(bytes)) throw new WireError('BAD_UTF8', `the ${what} of a CAMP ${name} frame is not UTF-8`, offset + HEADER + fixed)
    return bytes.toString('utf8')
  }
  const ack = data.readUInt32BE(HEADER)
  switch (type) {
    case TYPE.ENDPOINT_INFO:
      exact()
      return { kind: 'endpoint-info', sid, ack, version: data.readUInt32BE(13), flags: data.readBigUInt64BE(17) }
    case TYPE.BYE:
      return { kind: 'bye', sid, ack, reason: text('reason') }
    case TYPE.ACK:
      exact()
      return { kind: 'ack', sid, acked: ack }
    case TYPE.ERROR:
      return { kind: 'error', sid, ack, message: text('text') }
    case TYPE.PING_PONG: {
      const word = data.subarray(HEADER).toString('latin1')
      if (word === 'ping' || word === 'pong') return { kind: word, sid }
      throw new WireError('BAD_KIND', `a CAMP PING_PONG frame carries "ping" or "pong", not ${JSON.stringify(word.slice(0, 16))}`, offset + HEADER)
    }
    case TYPE.UTF8DATA: {
      const bytes = tail()
      if (!isUtf8(bytes)) throw new WireError('BAD_UTF8', 'the text of a CAMP utf8 frame is not UTF-8', offset + HEADER + fixed)
      return { kind: 'utf8', sid, ack, payload: bytes }
    }
    case TYPE.BINARYDATA:
      return { kind: 'binary', sid, ack, payload: tail() }
    case TYPE.TX_START: {
      const behaviour = data[25]
      if (behaviour !== BEHAVIOUR.PUSH && behaviour !== BEHAVIOUR.PULL) throw new WireError('BAD_FRAME', `a CAMP tx-start behaviour is 0 (push) or 1 (pull), not ${behaviour}`, offset + 25)
      return { kind: 'tx-start', sid, ack, txId: data.readUInt32BE(13), size: data.readBigInt64BE(17), behaviour, name: text('name') }
    }
    case TYPE.TX_CHUNK:
      return { kind: 'tx-chunk', sid, txId: ack, offset: data.readBigUInt64BE(13), payload: tail() }
    case TYPE.TX_FINISH:
      exact()
      return { kind: 'tx-finish', sid, ack, txId: data.readUInt32BE(13) }
    case TYPE.TX_FETCH:
      exact()
      return { kind: 'tx-fetch', sid, ack, txId: data.readUInt32BE(13), start: data.readBigUInt64BE(17), end: data.readBigUInt64BE(25) }
    default:
      exact()
      return { kind: 'tx-cancel', sid, ack, txId: data.readUInt32BE(13) }
  }
}

function head(sid: bigint, type: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER + size)
  b.writeBigUInt64BE(sid, 0)
  b[8] = type
  return b
}

function withTail(sid: bigint, type: number, fixed: number, ack: number, payload: Buffer): Buffer {
  const b = head(sid, type, fixed + payload.length)
  b.writeUInt32BE(ack >>> 0, HEADER)
  payload.copy(b, HEADER + fixed)
  return b
}

/** One frame to its bytes (no check of payload sizes: the Wire bounds what it sends). */
export function encodeFrame(f: Frame): Buffer {
  switch (f.kind) {
    case 'endpoint-info': {
      const b = head(f.sid, TYPE.ENDPOINT_INFO, 16)
      b.writeUInt32BE(f.ack >>> 0, 9)
      b.writeUInt32BE(f.version >>> 0, 13)
      b.writeBigUInt64BE(f.flags, 17)
      return b
    }
    case 'bye':
      return withTail(f.sid, TYPE.BYE, 4, f.ack, Buffer.from(f.reason, 'utf8'))
    case 'ack': {
      const b = head(f.sid, TYPE.ACK, 4)
      b.writeUInt32BE(f.acked >>> 0, 9)
      return b
    }
    case 'error':
      return withTail(f.sid, TYPE.ERROR, 4, f.ack, Buffer.from(f.message, 'utf8'))
    case 'ping':
    case 'pong': {
      const b = head(f.sid, TYPE.PING_PONG, 4)
      b.write(f.kind, 9, 'latin1')
      return b
    }
    case 'utf8':
      return withTail(f.sid, TYPE.UTF8DATA, 4, f.ack, f.payload)
    case 'binary':
      return withTail(f.sid, TYPE.BINARYDATA, 4, f.ack, f.payload)
    case 'tx-start': {
      const b = withTail(f.sid, TYPE.TX_START, 17, f.ack, Buffer.from(f.name, 'utf8'))
      b.writeUInt32BE(f.txId >>> 0, 13)
      b.writeBigInt64BE(f.size, 17)
      b[25] = f.behaviour
      return b
    }
    case 'tx-chunk': {
      const b = withTail(f.sid, TYPE.TX_CHUNK, 12, f.txId, f.payload)
      b.writeBigUInt64BE(f.offset, 13)
      return b
    }
    case 'tx-finish':
    case 'tx-cancel': {
      const b = head(f.sid, f.kind === 'tx-finish' ? TYPE.TX_FINISH : TYPE.TX_CANCEL, 8)
      b.writeUInt32BE(f.ack >>> 0, 9)
      b.writeUInt32BE(f.txId >>> 0, 13)
      return b
    }
    case 'tx-fetch': {
      const b = head(f.sid, TYPE.TX_FETCH, 24)
      b.writeUInt32BE(f.ack >>> 0, 9)
      b.writeUInt32BE(f.txId >>> 0, 13)
      b.writeBigUInt64BE(f.start, 17)
      b.writeBigUInt64BE(f.end, 25)
      return b
    }
  }
}

/** TX_CHUNK's bytes before the data: sid, type, txId, offset. */
export const CHUNK_HEADER = HEADER + 12

/**
 * A TX_CHUNK whose data is written into it afterwards (at CHUNK_HEADER): the sender reads a file
 * straight into the frame, with no copy of the chunk.
 */
export function chunkFrame(sid: bigint, txId: number, offset: number, length: number): Buffer {
  const b = head(sid, TYPE.TX_CHUNK, 12 + length)
  b.writeUInt32BE(txId >>> 0, HEADER)
  b.writeBigUInt64BE(BigInt(offset), HEADER + 4)
  return b
}

/** The ack number a frame carries (undefined for ACK, PING_PONG and TX_CHUNK, which are not acknowledged). */
export function ackOf(f: Frame): number | undefined {
  return 'ack' in f ? f.ack : undefined
}

/** A session id as the upgrade carries it: decimal u64. Undefined when it is not one. */
export function parseSid(text: string | null | undefined): bigint | undefined {
  if (text === null || text === undefined || !/^\d{1,20}$/.test(text)) return undefined
  const n = BigInt(text)
  return n <= 0xffffffffffffffffn ? n : undefined
}

/** A random session id (CAMPNewId: 8 random bytes). */
export function newSid(random: (n: number) => Buffer): bigint {
  return random(8).readBigUInt64BE(0)
}

/**
 * stmpcat close codes to CAMP's, by whose fault it is: a clean close is 4000; a protocol error of
 * the peer is the peer's error (4001 from a server, 4002 from a client); our own failure (1011)
 * is ours. Codes that are already CAMP's pass through.
 */
export function campCloseCode(code: number, role: 'client' | 'server'): number {
  if (code >= 4000 && code <= 4002) return code
  if (code === 1000 || code === 1001) return CLOSE.GRACEFUL
  const peer = role === 'server' ? CLOSE.CLIENT_ERROR : CLOSE.SERVER_ERROR
  const own = role === 'server' ? CLOSE.SERVER_ERROR : CLOSE.CLIENT_ERROR
  return code === 1011 ? own : peer
}

/** CAMP's close codes to stmpcat's: 4000 graceful 1000, 4001 (the client erred) 1002, 4002 (the server erred) 1011. */
export function stmpCloseCode(code: number): number {
  if (code === CLOSE.GRACEFUL) return 1000
  if (code === CLOSE.CLIENT_ERROR) return 1002
  if (code === CLOSE.SERVER_ERROR) return 1011
  return code
}
