import { isUtf8 } from '../lazy.js'

/**
 * Payload previews for tables, and the JSON view of a payload for `--json` output.
 */

/** The payload's JSON value when it is valid UTF-8 JSON, else undefined. */
export function payloadJson(payload: Buffer): { value: unknown } | undefined {
  if (payload.length === 0 || !isUtf8(payload)) return undefined
  // Cheap pre-check: a JSON text starts with one of these after whitespace (RFC 8259 §2).
  let i = 0
  while (i < payload.length && (payload[i] === 0x20 || payload[i] === 0x0a || payload[i] === 0x0d || payload[i] === 0x09)) i++
  if (i === payload.length || !/[[{"\-0-9tfn]/.test(String.fromCharCode(payload[i]))) return undefined
  try {
    return { value: JSON.parse(payload.toString('utf8')) }
  } catch {
    return undefined
  }
}

export interface PreviewOptions {
  /** Columns per line. */
  width: number
  /** Lines at most. */
  lines: number
}

export interface Preview {
  kind: 'json' | 'text' | 'hex' | 'empty'
  text: string
}

function clip(line: string, width: number): string {
  const chars = Array.from(line)
  return chars.length <= width ? line : `${chars.slice(0, Math.max(1, width - 1)).join('')}…`
}

/** `text` cut to `options.lines` lines of `options.width` columns, marking each cut with `…`. */
export function clipText(text: string, options: PreviewOptions): string {
  return clipLines(printable(text.replace(/\r/g, '')).split('\n'), options)
}

/**
 * Text from the wire made safe for a terminal: control characters (an ESC could restyle or
 * move the cursor) are shown as `\xNN`, tabs as a space. Newlines are kept.
 */
export function printable(text: string): string {
  return text.replace(/\t/g, ' ').replace(CONTROL_ALL, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

function clipLines(lines: string[], options: PreviewOptions): string {
  const out = lines.slice(0, options.lines).map((l) => clip(l, options.width))
  if (lines.length > options.lines) out[out.length - 1] = clip(`${out[out.length - 1]} …`, options.width)
  return out.join('\n')
}

// Control characters other than tab, newline and carriage return make text "binary".
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/
// eslint-disable-next-line no-control-regex
const CONTROL_ALL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g

/**
 * JSON pretty-printed when the payload parses as JSON; else the text when it is printable
 * UTF-8; else hex. Trimmed to `lines` lines of `width` columns.
 */
export function payloadPreview(payload: Buffer, options: PreviewOptions): Preview {
  if (payload.length === 0) return { kind: 'empty', text: '' }
  const json = payloadJson(payload)
  if (json) return { kind: 'json', text: clipText(JSON.stringify(json.value, null, 2), options) }
  if (isUtf8(payload)) {
    const text = payload.toString('utf8')
    if (!CONTROL.test(text)) return { kind: 'text', text: clipText(text, options) }
  }
  const perLine = Math.max(1, Math.floor((options.width + 1) / 3))
  const whole = payload.length <= perLine * options.lines
  // When the payload does not fit, the last line says how big it is instead.
  const shown = whole ? payload.length : perLine * Math.max(0, options.lines - 1)
  const lines: string[] = []
  for (let i = 0; i < shown; i += perLine) {
    lines.push(payload.subarray(i, Math.min(i + perLine, shown)).toString('hex').replace(/(..)(?!$)/g, '$1 '))
  }
  if (!whole) lines.push(`… (${payload.length} bytes)`)
  const text = lines.join('\n')
  return { kind: 'hex', text }
}
