import type * as Msgpackr from 'msgpackr'
import { StmpError } from '../errors.js'
import { lazyRequire } from '../lazy.js'
import { decodeUtf8, parseJson } from './json.js'
import { toJsonSafe } from './json-safe.js'
import type { PayloadCodec } from './types.js'

// Required on first use: a JSON request never loads msgpackr (docs/startup.md).
const msgpackr = lazyRequire<typeof Msgpackr>('msgpackr', import.meta.url)

/**
 * application/msgpack.
 *
 * `useRecords: false`: msgpackr's record extension (type 0x72 structures) is msgpackr-only;
 * plain maps can be read by every MessagePack implementation (stmp-go's vmihailenco/msgpack).
 * `mapsAsObjects: false` decodes maps to Map, and toJsonSafe makes them objects: msgpackr's own
 * map-to-object path renames a `__proto__` key to `__proto_` (its guard against prototype
 * pollution), which would print a payload that is not what was sent. Keys that are not strings
 * become their JSON text (`1`, `true`). `variableMapSize: true`: msgpackr
 * otherwise writes every map as map16 (`de 00 01` for one entry) for speed; the shortest form
 * (fixmap `81`) is what other implementations write and what hand-made test vectors expect.
 *
 * Empty payloads behave as for JSON: empty bytes decode to null and encode(undefined) is empty
 * (an empty PAYLOAD is not valid MessagePack, but STMP allows it for "no value").
 */
export class MsgpackCodec implements PayloadCodec {
  readonly name = 'msgpack' as const
  readonly contentType = 'application/msgpack'
  private packrInstance: Msgpackr.Packr | undefined
  private get packr(): Msgpackr.Packr {
    return (this.packrInstance ??= new msgpackr.Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true }))
  }

  encode(value: unknown): Buffer {
    if (value === undefined) return Buffer.alloc(0)
    try {
      return this.packr.pack(value)
    } catch (err) {
      // A bigint beyond 64 bits, a circular structure.
      throw new StmpError('BAD_PAYLOAD', `cannot encode the payload as MessagePack: ${(err as Error).message}`, { cause: err })
    }
  }

  /** A JSON-printable value (toJsonSafe: int64 beyond 2^53 as a string, bin as base64). */
  decode(bytes: Buffer): unknown {
    if (bytes.length === 0) return null
    let value: unknown
    try {
      value = this.packr.unpack(bytes)
    } catch (err) {
      // Truncated data, bytes after the value, a bad extension.
      throw new StmpError('BAD_PAYLOAD', `payload is not valid MessagePack: ${(err as Error).message}`, { cause: err })
    }
    return toJsonSafe(value)
  }

  /** The CLI's data is JSON text: parse, then pack. */
  fromText(input: string | Buffer): Buffer {
    const text = typeof input === 'string' ? input : decodeUtf8(input, 'MessagePack data')
    if (text.trim() === '') return Buffer.alloc(0)
    return this.encode(parseJson(text, 'MessagePack data (JSON text)'))
  }
}
