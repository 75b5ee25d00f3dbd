import { isUtf8 } from '../lazy.js'
import type { ChalkInstance } from 'chalk'
import { type PayloadCodec, type PayloadRole, decodePayload, toJsonSafe } from '../payload/index.js'
import { compactJson, prettyJson } from './json-text.js'
import { payloadPreview, printable } from './preview.js'

/**
 * How a payload is printed on stdout (fetch, connect). stdout carries the payload and nothing
 * else, so it can be piped:
 * - json: pretty and coloured on a terminal; in a pipe one compact line + `\n`. The text is
 *   re-laid out token by token, never re-serialised, so big integers keep every digit.
 * - msgpack, protobuf: decoded to JSON, printed like json.
 * - text: the text as sent (a terminal gets a final `\n` when it lacks one).
 * - raw: the bytes unchanged in a pipe; a terminal gets a hex dump when they are not
 *   printable text (binary would garble it).
 * - an empty payload prints nothing.
 * A payload that does not decode as its content type (a server bug) is written as received,
 * with a warning for stderr.
 */

export interface PayloadOutputOptions {
  /** stdout is a terminal. */
  tty: boolean
  /**
   * Colours (colors.ts chalkFor: FORCE_COLOR, NO_COLOR, TTY): the layout follows `tty`, the
   * colour follows this, so FORCE_COLOR colours the one-line JSON of a pipe too.
   */
  chalk: ChalkInstance
}

export interface RenderedPayload {
  /** What to write on stdout. */
  data: Buffer | string
  /** A diagnostic for stderr, when the payload did not decode. */
  warning?: string
}

export interface PayloadFrameContext {
  action: string
  role: PayloadRole
  /** Response status: a non-2xx payload is a UTF-8 message (wire notes §5). */
  status?: number
}

export function renderPayload(codec: PayloadCodec, bytes: Buffer, ctx: PayloadFrameContext, options: PayloadOutputOptions): RenderedPayload {
  if (bytes.length === 0) return { data: '' }
  if (ctx.status !== undefined && (ctx.status < 200 || ctx.status > 299)) return { data: withNewline(bytes.toString('utf8')) }
  try {
    switch (codec.name) {
      case 'json':
        codec.decode(bytes, ctx) // validates (BAD_PAYLOAD when it is not JSON)
        return { data: layoutJson(bytes.toString('utf8'), options) }
      case 'msgpack':
      case 'protobuf':
        return { data: layoutJson(JSON.stringify(toJsonSafe(decodePayload(codec, bytes, ctx))), options) }
      case 'text': {
        const text = codec.decode(bytes, ctx) as string
        return { data: options.tty ? withNewline(printable(text)) : text }
      }
      case 'raw':
        if (!options.tty) return { data: bytes }
        return { data: withNewline(terminalSafe(bytes)) }
    }
  } catch (err) {
    return { data: options.tty ? withNewline(terminalSafe(bytes)) : bytes, warning: `response payload printed as received: ${(err as Error).message}` }
  }
}

/**
 * The payload as a JSON value for `--json` envelopes and NDJSON: decoded by the content type
 * (raw bytes as base64, protobuf int64 as strings: toJsonSafe), a non-2xx payload as its
 * message string, an empty payload as null. Undecodable bytes: their UTF-8 text, else base64.
 */
export function payloadValue(codec: PayloadCodec, bytes: Buffer, ctx: PayloadFrameContext): unknown {
  if (bytes.length === 0) return null
  try {
    return toJsonSafe(decodePayload(codec, bytes, ctx))
  } catch {
    return isUtf8(bytes) ? bytes.toString('utf8') : bytes.toString('base64')
  }
}

/** A short one-or-few-line view of a payload for traces (-v) and logs. */
export function payloadSummary(codec: PayloadCodec, bytes: Buffer, ctx: PayloadFrameContext, width = 200, lines = 8): string {
  if (bytes.length === 0) return ''
  if (codec.name === 'msgpack' || codec.name === 'protobuf') {
    if (ctx.status === undefined || (ctx.status >= 200 && ctx.status <= 299)) {
      try {
        return clip(JSON.stringify(toJsonSafe(decodePayload(codec, bytes, ctx))), width)
      } catch {
        // fall through to the generic preview of the bytes
      }
    }
  }
  const preview = payloadPreview(bytes, { width, lines })
  return preview.kind === 'json' ? clip(compactJson(bytes.toString('utf8')), width) : preview.text
}

function layoutJson(text: string, options: PayloadOutputOptions): string {
  return options.tty ? `${prettyJson(text, options.chalk)}\n` : `${compactJson(text, options.chalk)}\n`
}

function terminalSafe(bytes: Buffer): string {
  const preview = payloadPreview(bytes, { width: 48, lines: Number.MAX_SAFE_INTEGER })
  return preview.kind === 'hex' ? preview.text : printable(bytes.toString('utf8'))
}

function withNewline(text: string): string {
  return text.endsWith('\n') || text === '' ? text : `${text}\n`
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`
}
