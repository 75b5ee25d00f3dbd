import { StmpError } from '../errors.js'
import { decodeUtf8 } from './json.js'
import type { PayloadCodec } from './types.js'

/** text/plain: a UTF-8 string both ways (wire notes §5: all strings are UTF-8). */
export class TextCodec implements PayloadCodec {
  readonly name = 'text' as const
  readonly contentType = 'text/plain'

  encode(value: unknown): Buffer {
    if (value === undefined) return Buffer.alloc(0)
    if (typeof value !== 'string') throw new StmpError('BAD_PAYLOAD', `a text/plain payload must be a string, not ${describe(value)}`)
    return Buffer.from(value, 'utf8')
  }

  decode(bytes: Buffer): string {
    return decodeUtf8(bytes, 'text/plain payload')
  }

  fromText(input: string | Buffer): Buffer {
    if (typeof input === 'string') return Buffer.from(input, 'utf8')
    decodeUtf8(input, 'text/plain data')
    return input
  }
}

/**
 * application/octet-stream: bytes as they are. decode returns the Buffer (a view of the
 * frame: copy it to keep it past the frame's life); the CLI prints it raw, or as base64
 * with --json (toJsonSafe).
 */
export class RawCodec implements PayloadCodec {
  readonly name = 'raw' as const
  readonly contentType = 'application/octet-stream'

  /** Bytes, or a string taken as its UTF-8 bytes (the same rule as fromText). */
  encode(value: unknown): Buffer {
    if (value === undefined) return Buffer.alloc(0)
    if (Buffer.isBuffer(value)) return value
    if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    if (typeof value === 'string') return Buffer.from(value, 'utf8')
    throw new StmpError('BAD_PAYLOAD', `an application/octet-stream payload must be bytes or a string, not ${describe(value)}`)
  }

  decode(bytes: Buffer): Buffer {
    return bytes
  }

  fromText(input: string | Buffer): Buffer {
    return typeof input === 'string' ? Buffer.from(input, 'utf8') : input
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return `a ${typeof value}`
}
