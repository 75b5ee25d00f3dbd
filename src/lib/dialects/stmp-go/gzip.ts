import * as zlib from 'node:zlib'
import { WireError } from '../../errors.js'

/**
 * stmp-go's connection-level gzip (encoding.go, conn.go read/write): after the handshake each
 * direction is ONE gzip stream, flushed (Z_SYNC_FLUSH, Go's gzip.Writer.Flush) after every
 * packet. Both ends here work synchronously, packet by packet, so that what a Wire writes is on
 * the wire in order, before a Close and the end of the transport. Node has no public API for a
 * long-lived synchronous zlib stream: processSync drives one zlib object's handle the way
 * zlib.gzipSync does (lib/zlib.js processChunkSync), without closing it after the call.
 */

/** The parts of a Node zlib stream object the synchronous loop uses (lib/zlib.js). */
interface ZlibInternals extends NodeJS.EventEmitter {
  _handle: { writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void } | null
  _writeState: Uint32Array
  _chunkSize: number
  errored: Error | null
  close(): void
}

/**
 * Runs `chunk` through the zlib object with `flush`, synchronously, and keeps the object open
 * (zlib's own processChunkSync closes it after one call). At most `max` bytes come out.
 */
function processSync(z: ZlibInternals, chunk: Buffer, flush: number, max: number): Buffer {
  const handle = z._handle
  if (!handle) throw new Error('the zlib stream is closed')
  const state = z._writeState
  const size = z._chunkSize
  const out: Buffer[] = []
  let total = 0
  let inOff = 0
  let availIn = chunk.length
  for (;;) {
    const buffer = Buffer.allocUnsafe(size)
    handle.writeSync(flush, chunk, inOff, availIn, buffer, 0, size)
    if (z.errored) throw z.errored
    const availOutAfter = state[0]
    const availInAfter = state[1]
    const have = size - availOutAfter
    if (have > 0) {
      total += have
      if (total > max) throw new RangeError(`more than ${max} bytes`)
      out.push(buffer.subarray(0, have))
    }
    inOff += availIn - availInAfter
    availIn = availInAfter
    if (availOutAfter !== 0) break
  }
  return out.length === 1 ? out[0] : Buffer.concat(out, total)
}

function open(z: zlib.Gzip | zlib.Gunzip): ZlibInternals {
  const internals = z as unknown as ZlibInternals
  // Errors are thrown by processSync; the stream's own 'error' event must not go unhandled.
  internals.on('error', () => undefined)
  return internals
}

export function isGzipStart(b: Buffer): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b
}

/** One direction's gzip writer: `write(packet)` gives the compressed bytes, flushed. */
export class Deflater {
  private readonly z: ZlibInternals

  constructor(level = 6) {
    this.z = open(zlib.createGzip({ level }))
  }

  write(bytes: Buffer): Buffer {
    return processSync(this.z, bytes, zlib.constants.Z_SYNC_FLUSH, Number.MAX_SAFE_INTEGER)
  }

  close(): void {
    this.z.close()
  }
}

/** One direction's gzip reader: compressed bytes in, the bytes so far out (bounded per call). */
export class Inflater {
  private readonly z: ZlibInternals
  private ended = false

  constructor(private readonly maxOutput: number) {
    this.z = open(zlib.createGunzip())
  }

  /** Throws WireError BAD_GZIP (not gzip, corrupt) or TOO_LARGE (inflates past the limit). */
  inflate(bytes: Buffer, offset: number): Buffer {
    if (this.ended || bytes.length === 0) return Buffer.alloc(0)
    try {
      return processSync(this.z, bytes, zlib.constants.Z_SYNC_FLUSH, this.maxOutput)
    } catch (err) {
      this.ended = true
      const e = err as NodeJS.ErrnoException
      if (e instanceof RangeError) throw new WireError('TOO_LARGE', `gzip bytes inflate past the limit: ${e.message}`, offset, { closeCode: 1009 })
      throw new WireError('BAD_GZIP', `the gzip stream is broken: ${e.message}`, offset)
    }
  }

  close(): void {
    this.ended = true
    this.z.close()
  }
}
