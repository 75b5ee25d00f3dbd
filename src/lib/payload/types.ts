/**
 * The payload codec contract (wire notes §9: one content type covers the payloads of Request,
 * Push and 2xx Response frames of a whole connection).
 *
 * A codec is pure: bytes in, values out, no I/O. The STMP frame codec hands it the PAYLOAD
 * bytes (§5) and the frame's ACTION; the CLI hands it the text of `--data` or an NDJSON line.
 */

export type PayloadCodecName = 'json' | 'msgpack' | 'protobuf' | 'text' | 'raw'

/** Which side of an action a payload belongs to; protobuf picks its message type by it. */
export type PayloadRole = 'request' | 'response' | 'push'

export interface PayloadContext {
  /** The ACTION of the Request or Push (for a Response: the action of the request it answers). */
  action: string
  role: PayloadRole
}

export interface PayloadCodec {
  readonly name: PayloadCodecName
  /** The canonical MIME type, as sent in `stmp_content_type` (wire notes §8, §9). */
  readonly contentType: string
  /** A JS value (what a handler returns, what `decode` gave back) to wire bytes. */
  encode(value: unknown, ctx: PayloadContext): Buffer
  /**
   * Wire bytes to a JS value. For json, msgpack and protobuf the value is JSON-printable
   * (see toJsonSafe); text gives a string and raw gives the Buffer itself.
   */
  decode(bytes: Buffer, ctx: PayloadContext): unknown
  /**
   * User input (a CLI argument, a `@file`, an NDJSON value) to wire bytes. A Buffer is what
   * readData() returns; it is taken as UTF-8 text by every codec but raw, which keeps the bytes.
   */
  fromText(input: string | Buffer, ctx: PayloadContext): Buffer
}
