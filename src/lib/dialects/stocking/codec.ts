import { WireError } from '../../errors.js'

/**
 * Stocking's text messages (wire notes §2): `<type>,<ccode>,<content>`, split on the first two
 * commas only (the content may hold commas). Pure: no I/O, no state.
 *
 *   0                                  Connect (server, right after the upgrade)
 *   1,<ccode>,<text>                   Error (server): `1,0,Channel "x" not found`
 *   2,,                                Close (client; the server drops the connection)
 *   3,,   /   3                        ping (client) / its answer (server)
 *   4,<ccode>,{"e":route,"p":payload}  message: ccode "0" expects no answer
 *   4,<ccode>,{"c":-1,"p":result}      the answer (c -1 success, else an error code)
 *   4,<ccode>,                         the answer of a handler that returned nothing
 *   5,<room>,<anything>                broadcast: forwarded unchanged to the room's other members
 *   6,1,<room>  /  6,0,<room>          join / leave
 */

export const TYPE = {
  connect: '0',
  error: '1',
  close: '2',
  ping: '3',
  message: '4',
  broadcast: '5',
  join: '6',
} as const

/** A message cut at its first two commas. `parts`: 1 (`3`), 2 (`4,x`) or 3 (the full form). */
export interface RawMessage {
  type: string
  ccode: string
  content: string
  parts: 1 | 2 | 3
}

/** Splits a message at its first two commas (hubPackage.go `SplitN(raw, ",", 3)`). */
export function splitMessage(text: string): RawMessage {
  const a = text.indexOf(',')
  if (a === -1) return { type: text, ccode: '', content: '', parts: 1 }
  const b = text.indexOf(',', a + 1)
  if (b === -1) return { type: text.slice(0, a), ccode: text.slice(a + 1), content: '', parts: 2 }
  return { type: text.slice(0, a), ccode: text.slice(a + 1, b), content: text.slice(b + 1), parts: 3 }
}

export function joinMessage(type: string, ccode: string, content: string): Buffer {
  return Buffer.from(`${type},${ccode},${content}`, 'utf8')
}

/**
 * The server's parse: fewer than two commas or an empty type make the real server drop the
 * connection ("Invalid message format.", "Invalid message type."). Throws WireError BAD_MESSAGE.
 */
export function strictSplit(text: string, offset = 0): RawMessage {
  const m = splitMessage(text)
  if (m.parts !== 3) throw new WireError('BAD_MESSAGE', `${JSON.stringify(preview(text))} has ${m.parts - 1} comma${m.parts === 2 ? '' : 's'}; a Stocking message is type,ccode,content (a Stocking server drops the connection)`, offset)
  if (m.type === '') throw new WireError('BAD_MESSAGE', `${JSON.stringify(preview(text))} has an empty type (a Stocking server drops the connection)`, offset)
  return m
}

/** The body of a message to the server: `{"e":route,"p":payload}`. */
export interface RequestBody {
  route: string
  /** The JSON text of `p`. */
  payload: Buffer
}

/** The body of an answer: `{"c":code,"p":result}`; empty content is `code` -1 and no payload. */
export interface ResponseBody {
  code: number
  /** The JSON text of `p` (empty when the content was empty). */
  payload: Buffer
  /** `p` when it is a string (an error's message). */
  text?: string
}

/**
 * What the real server accepts as `{"e","p"}` (mRouter.go: `json.Valid`, unmarshal into
 * TextMessageProtocol, then `p` into a `map[string]interface{}`): a JSON object whose `e` is a
 * string (or absent: route "") and whose `p` is present and an object or null. Anything else
 * drops the connection. Throws WireError BAD_BODY (with why) at `offset`.
 */
export function decodeRequestBody(content: string, offset = 0): RequestBody {
  let value: unknown
  try {
    value = JSON.parse(content)
  } catch (err) {
    throw new WireError('BAD_BODY', `the content is not JSON (${(err as Error).message}); a Stocking server drops the connection`, offset)
  }
  if (!isObject(value)) throw new WireError('BAD_BODY', `the content must be a JSON object {"e":route,"p":payload}, not ${jsonType(value)}; a Stocking server drops the connection`, offset)
  const e = value.e
  if (e !== undefined && e !== null && typeof e !== 'string') throw new WireError('BAD_BODY', `"e" must be a string (the route), not ${jsonType(e)}; a Stocking server drops the connection`, offset)
  if (!('p' in value)) throw new WireError('BAD_BODY', 'the content has no "p" (payload); a Stocking server drops the connection', offset)
  const p = value.p
  if (p !== null && !isObject(p)) throw new WireError('NOT_AN_OBJECT', `"p" must be a JSON object or null, not ${jsonType(p)}; a Stocking server drops the connection`, offset)
  return { route: typeof e === 'string' ? e : '', payload: Buffer.from(JSON.stringify(p), 'utf8') }
}

/** An answer's content: empty, or `{"c":number,"p":...}`. Throws WireError BAD_BODY. */
export function decodeResponseBody(content: string, offset = 0): ResponseBody {
  if (content === '') return { code: -1, payload: Buffer.alloc(0) }
  let value: unknown
  try {
    value = JSON.parse(content)
  } catch (err) {
    throw new WireError('BAD_BODY', `an answer's content is not JSON (${(err as Error).message})`, offset)
  }
  if (!isObject(value) || typeof value.c !== 'number' || !Number.isInteger(value.c)) throw new WireError('BAD_BODY', 'an answer must be {"c":code,"p":result} (or empty)', offset)
  const p = value.p
  return {
    code: value.c,
    payload: p === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(p), 'utf8'),
    text: typeof p === 'string' ? p : undefined,
  }
}

/** Whether a content is a request body (has "e", or lacks a numeric "c"), without throwing. */
export function looksLikeRequestBody(content: string): boolean {
  try {
    const v: unknown = JSON.parse(content)
    return isObject(v) && ('e' in v || typeof v.c !== 'number')
  } catch {
    return false
  }
}

/**
 * Checks a payload this side is about to put in `p`: JSON, and an object or null (empty bytes
 * are null). Returns the JSON text, or why not (the real server would drop the connection).
 */
export function requestPayload(payload: Buffer): { json: string } | { error: string } {
  if (payload.length === 0) return { json: 'null' }
  const text = payload.toString('utf8')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { error: 'the payload is not JSON' }
  }
  if (value !== null && !isObject(value)) return { error: `the payload is ${jsonType(value)}, not a JSON object` }
  return { json: text }
}

export function encodeRequestBody(route: string, json: string): string {
  return `{"e":${JSON.stringify(route)},"p":${json}}`
}

/** `p` of an answer: the payload when it is JSON, else its text as a JSON string. */
export function encodeResponseBody(code: number, payload: Buffer): string {
  return `{"c":${code},"p":${jsonOrString(payload)}}`
}

export function jsonOrString(payload: Buffer): string {
  if (payload.length === 0) return 'null'
  const text = payload.toString('utf8')
  try {
    JSON.parse(text)
    return text
  } catch {
    return JSON.stringify(text)
  }
}

/**
 * `c` and stmpcat statuses (README "Message Type": -1 no error, 0 the default error, other values
 * a RouterError's own code). Statuses 400..599 travel as themselves so two stmpcat ends keep them.
 */
export function statusOf(code: number): number {
  if (code === -1) return 200
  if (code >= 400 && code <= 599) return code
  return 500
}

export function codeOf(status: number): number {
  if (status >= 200 && status <= 299) return -1
  if (status === 500) return 0
  if (status >= 400 && status <= 599) return status
  return 0
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function jsonType(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  return `a ${typeof v}`
}

export function preview(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}...` : text
}
