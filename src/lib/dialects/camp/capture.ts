import type { CaptureDecoder, CaptureSupport, SniffInput } from '../types.js'
import { CAMP_VERSION, type Frame, HEADER, TYPE, decodeFrame } from './codec.js'
import { chunkOffset } from './wire.js'

/**
 * Reading CAMP in captures: one WebSocket binary message is one frame, shown with its fields
 * (sid in hex, ack numbers, payloads). TX_CHUNK offsets are shown as sent; a chunk at
 * CAMP-Server's off-by-one offset says so (`quirk: "off-by-one"`, `expected`: the true offset).
 */

/** How much the upgrade says CAMP: the `camp` subprotocol or the `x-CAMP-sid` query key. */
function upgradeScore(upgrade: SniffInput['upgrade']): 0 | 2 {
  if (upgrade === undefined) return 0
  const protocols = (upgrade.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim().toLowerCase())
  if (protocols.includes('camp')) return 2
  const query = new URLSearchParams(upgrade.url.split('?')[1] ?? '')
  return query.has('x-CAMP-sid') || query.has('x-camp-sid') ? 2 : 0
}

/** A first frame: the server's is ENDPOINT_INFO (25 bytes, version 1); a client's an ACK or its own ENDPOINT_INFO. */
function frameScore(bytes: Buffer | undefined, from: 'client' | 'server'): 0 | 1 | 2 {
  if (bytes === undefined || bytes.length < HEADER + 4) return 0
  const type = bytes[8]
  if (type === TYPE.ENDPOINT_INFO && bytes.length === 25 && bytes.readUInt32BE(13) === CAMP_VERSION) return 2
  if (from === 'client' && type === TYPE.ACK && bytes.length === 13) return 1
  return 0
}

export const capture: CaptureSupport = {
  sniff(first: SniffInput) {
    if (first.framing !== 'websocket') return 0
    if (upgradeScore(first.upgrade) === 2) return 2
    const server = frameScore(first.server, 'server')
    const client = frameScore(first.client, 'client')
    if (server === 2) return 2
    return server > 0 || client > 0 ? 1 : 0
  },
  decoder(context) {
    /** Transactions seen in this direction: bytes and chunks so far (for the offsets). */
    const txs = new Map<number, { bytes: number; chunks: number }>()
    const decoder: CaptureDecoder = {
      write(data, offset) {
        if (context.framing !== 'websocket') {
          decoder.onError?.({ code: 'NOT_WEBSOCKET', message: 'CAMP runs over WebSocket only: these are stream bytes', offset, bytes: data })
          return
        }
        try {
          const f = decodeFrame(data, offset)
          decoder.onFrame?.({ ...fieldsOf(f, txs), offset, length: data.length })
        } catch (err) {
          const e = err as { code?: string; offset?: number; message: string }
          decoder.onError?.({ code: e.code ?? 'BAD_FRAME', message: e.message, offset: e.offset ?? offset, bytes: data })
        }
      },
      end() {},
    }
    return decoder
  },
}

type Fields = { kind: string; [field: string]: unknown }

/** A frame as `decode` shows it (no bigint: ids and sizes as numbers, the sid as 16 hex digits). */
export function fieldsOf(f: Frame, txs: Map<number, { bytes: number; chunks: number }> = new Map()): Fields {
  const sid = f.sid.toString(16).padStart(16, '0')
  switch (f.kind) {
    case 'endpoint-info':
      return { kind: f.kind, sid, ack: f.ack, version: f.version, flags: bigNumber(f.flags), transactions: (f.flags & 1n) === 1n }
    case 'bye':
      return { kind: f.kind, sid, ack: f.ack, reason: f.reason }
    case 'ack':
      return { kind: f.kind, sid, acked: f.acked }
    case 'error':
      return { kind: f.kind, sid, ack: f.ack, message: f.message }
    case 'ping':
    case 'pong':
      return { kind: f.kind, sid }
    case 'utf8':
    case 'binary':
      return { kind: f.kind, sid, ack: f.ack, payload: f.payload }
    case 'tx-start':
      // Bounded: a capture with endless unfinished transactions forgets the oldest.
      if (txs.size >= 1024) txs.delete(txs.keys().next().value as number)
      txs.set(f.txId, { bytes: 0, chunks: 0 })
      return { kind: f.kind, sid, ack: f.ack, txId: f.txId, size: bigNumber(f.size), behaviour: f.behaviour === 1 ? 'pull' : 'push', name: f.name }
    case 'tx-chunk': {
      const tx = txs.get(f.txId)
      const fields: Fields = { kind: f.kind, sid, txId: f.txId, offset: bigNumber(f.offset), payload: f.payload }
      if (tx === undefined) return fields
      const where = chunkOffset(f.offset, tx.bytes, tx.chunks)
      if (where !== 'exact') Object.assign(fields, { quirk: where, expected: tx.bytes })
      tx.bytes += f.payload.length
      tx.chunks++
      return fields
    }
    case 'tx-finish': {
      const tx = txs.get(f.txId)
      txs.delete(f.txId)
      return { kind: f.kind, sid, ack: f.ack, txId: f.txId, ...(tx ? { bytes: tx.bytes, chunks: tx.chunks } : {}) }
    }
    case 'tx-fetch':
      return { kind: f.kind, sid, ack: f.ack, txId: f.txId, start: bigNumber(f.start), end: bigNumber(f.end) }
    case 'tx-cancel':
      txs.delete(f.txId)
      return { kind: f.kind, sid, ack: f.ack, txId: f.txId }
  }
}

/** A bigint as a number when it is exact, else its decimal text. */
function bigNumber(n: bigint): number | string {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString()
}
