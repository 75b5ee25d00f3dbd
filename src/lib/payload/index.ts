import { StmpError } from '../errors.js'
import { JsonCodec } from './json.js'
import { MsgpackCodec } from './msgpack.js'
import { ProtobufCodec, type ProtoRegistry } from './protobuf.js'
import { RawCodec, TextCodec } from './text.js'
import type { PayloadCodec, PayloadCodecName, PayloadContext } from './types.js'

export type { PayloadCodec, PayloadCodecName, PayloadContext, PayloadRole } from './types.js'
export { JsonCodec, jsonErrorPosition, parseJson, type JsonErrorPosition } from './json.js'
export { MsgpackCodec } from './msgpack.js'
export { ProtobufCodec, ProtoRegistry, type ProtoFieldInfo, type ProtoLoadOptions, type ProtoMethodInfo } from './protobuf.js'
export { RawCodec, TextCodec } from './text.js'
export { toJsonSafe } from './json-safe.js'
export { readData, DEFAULT_MAX_DATA_BYTES, type ReadDataOptions } from './data.js'

export interface PayloadCodecOptions {
  /** Required for protobuf: the loaded `.proto` files (`--proto`, `--import-path`). */
  protoRegistry?: ProtoRegistry
}

/** Short name → canonical MIME type (wire notes §9). */
export const CONTENT_TYPES: Readonly<Record<PayloadCodecName, string>> = {
  json: 'application/json',
  msgpack: 'application/msgpack',
  protobuf: 'application/protobuf',
  text: 'text/plain',
  raw: 'application/octet-stream',
}

/** The `x-` spellings are widespread (stmp-go and many HTTP servers use them); same codecs. */
const ALIASES: Readonly<Record<string, PayloadCodecName>> = {
  'application/x-msgpack': 'msgpack',
  'application/x-protobuf': 'protobuf',
}

/**
 * The codec for a short name (`json`) or a MIME type (`application/json`, parameters such as
 * `; charset=utf-8` ignored, case-insensitive). Unknown → BAD_FLAG naming the allowed values;
 * protobuf without a registry → BAD_FLAG (it needs `--proto`).
 */
export function getPayloadCodec(nameOrMime: string, options: PayloadCodecOptions = {}): PayloadCodec {
  const name = codecName(nameOrMime)
  switch (name) {
    case 'json':
      return new JsonCodec()
    case 'msgpack':
      return new MsgpackCodec()
    case 'text':
      return new TextCodec()
    case 'raw':
      return new RawCodec()
    case 'protobuf':
      if (options.protoRegistry === undefined) {
        throw new StmpError('BAD_FLAG', 'the protobuf content type needs .proto files (--proto)')
      }
      return new ProtobufCodec(options.protoRegistry)
  }
}

/** The short name for a short name or MIME type; BAD_FLAG when it is neither. */
export function codecName(nameOrMime: string): PayloadCodecName {
  const key = nameOrMime.split(';')[0].trim().toLowerCase()
  if (Object.hasOwn(CONTENT_TYPES, key)) return key as PayloadCodecName
  for (const [name, mime] of Object.entries(CONTENT_TYPES)) if (mime === key) return name as PayloadCodecName
  if (Object.hasOwn(ALIASES, key)) return ALIASES[key]
  const allowed = Object.entries(CONTENT_TYPES).map(([n, m]) => `${n} (${m})`).join(', ')
  throw new StmpError('BAD_FLAG', `unknown content type "${nameOrMime}"; use one of ${allowed}`)
}

/**
 * Decode a frame's payload by the rule of wire notes §5 and §9: the connection's content type
 * covers Request, Push and 2xx Response payloads; the payload of a non-2xx Response is a UTF-8
 * message whatever the content type.
 */
export function decodePayload(codec: PayloadCodec, bytes: Buffer, ctx: PayloadContext & { status?: number }): unknown {
  if (ctx.role === 'response' && ctx.status !== undefined && (ctx.status < 200 || ctx.status > 299)) {
    return new TextCodec().decode(bytes)
  }
  return codec.decode(bytes, ctx)
}
