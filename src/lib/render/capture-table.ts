import { stripVTControlCharacters } from 'node:util'
import { dialectRowCells } from './capture-dialect.js'
import type { ChalkInstance } from 'chalk'
import type { AnyFrame } from '../codec/index.js'
import type { CaptureOutEvent, CaptureSummary, CaptureUndecodableOut } from '../capture/stmp.js'
import { payloadJsonText } from './capture-ndjson.js'
import { colorStatus } from './colors.js'
import { clipText, payloadPreview } from './preview.js'
import { isoSecond, splitNs } from './time.js'

/**
 * `decode FILE.pcap` on a terminal: one row per frame, error, gap and undecodable range, printed
 * as they come (a capture can hold millions of frames: nothing is kept for a final layout).
 * Columns: time (UTC time of day, microseconds), connection, direction, kind, id, action or
 * status, latency, payload preview.
 */

export interface CaptureTableOptions {
  chalk: ChalkInstance
  /** Terminal width; the payload column takes what the others leave. */
  columns?: number
}

type Column = 'time' | 'connection' | 'direction' | 'kind' | 'id' | 'what' | 'latency'
/** Column widths on a wide terminal, and the least each gets on a narrow one (payload: 16 to 100). */
const WIDTH: Record<Column, number> = { time: 15, connection: 33, direction: 6, kind: 18, id: 5, what: 24, latency: 7 }
const MIN_WIDTH: Record<Column, number> = { time: 15, connection: 25, direction: 6, kind: 13, id: 5, what: 13, latency: 7 }
/** Columns narrowed first when the terminal is narrow, each down to its MIN_WIDTH. */
const SHRINK_ORDER: Column[] = ['what', 'kind', 'latency', 'connection']
const PAYLOAD_MIN = 16
/** What the payload keeps before the other columns give up room (on 120 columns it gets 22). */
const PAYLOAD_WANT = 24
const PAYLOAD_MAX = 100
/** The two spaces between each of the 8 columns. */
const GAPS = 7 * 2

/**
 * Widths that fit `columns`: the payload gives up room down to PAYLOAD_WANT, then the columns of
 * SHRINK_ORDER down to their least. Narrower than 98 + PAYLOAD_MIN columns, rows wrap.
 */
function fitWidths(columns: number): Record<Column, number> {
  const widths = { ...WIDTH }
  const total = () => Object.values(widths).reduce((a, b) => a + b, 0) + GAPS + PAYLOAD_WANT
  for (const column of SHRINK_ORDER) {
    const over = total() - columns
    if (over <= 0) break
    widths[column] = Math.max(MIN_WIDTH[column], widths[column] - over)
  }
  return widths
}

/**
 * A connection (`client-ip:port -> server-ip:port`) in `width` characters: each side cut from its
 * start, so that both ports show (`…0.0.1:52012 -> …0.0.1:5000`).
 */
export function fitConnection(text: string, width: number): string {
  if (text.length <= width) return text
  const sides = text.split(' -> ')
  if (sides.length !== 2 || width < 13) return fitCell(text, width)
  const room = width - 4
  const [client, server] = sides
  // The server side is the same in many rows (one port): it gives up room first.
  const serverRoom = Math.min(server.length, Math.floor(room / 2))
  const clientRoom = Math.min(client.length, room - serverRoom)
  const cut = (side: string, n: number) => (side.length <= n ? side : `…${side.slice(side.length - n + 1)}`)
  return `${cut(client, clientRoom)} -> ${cut(server, room - clientRoom)}`
}

/** A colour (SGR) escape sequence at the start: ESC [ ... m. */
const SGR = new RegExp(`^${String.fromCharCode(0x1b)}\\[[0-9;]*m`)

/** `text` cut to `width` visible characters (the last one `…`), colour codes kept and closed. */
export function fitCell(text: string, width: number): string {
  const plain = stripVTControlCharacters(text)
  const chars = [...plain]
  if (chars.length <= width) return text
  let out = ''
  let visible = 0
  let styled = false
  for (let i = 0; i < text.length;) {
    const escape = text.charCodeAt(i) === 0x1b ? SGR.exec(text.slice(i, i + 16)) : null
    if (escape !== null) {
      out += escape[0]
      styled = true
      i += escape[0].length
      continue
    }
    if (visible === width - 1) break
    const ch = String.fromCodePoint(text.codePointAt(i) as number)
    out += ch
    i += ch.length
    visible++
  }
  return `${out}…${styled ? '\x1b[0m' : ''}`
}

/** `text` in lines of at most `width` characters, broken at spaces where it can be. */
function wrapText(text: string, width: number): string[] {
  const lines: string[] = []
  let rest = text.replace(/\n/g, ' ')
  while ([...rest].length > width) {
    const chars = [...rest]
    const head = chars.slice(0, width + 1).join('')
    const space = head.lastIndexOf(' ')
    const cut = space > width / 3 ? space : chars.slice(0, width).join('').length
    lines.push(rest.slice(0, cut).trimEnd())
    rest = rest.slice(cut).trimStart()
  }
  lines.push(rest)
  return lines
}

function pad(text: string, width: number, right = false): string {
  // Colour codes take no columns.
  const length = [...stripVTControlCharacters(text)].length
  if (length >= width) return text
  return right ? ' '.repeat(width - length) + text : text + ' '.repeat(width - length)
}

function clip(text: string, width: number): string {
  return clipText(text.replace(/\n/g, ' '), { width, lines: 1 })
}

function fragmentMark(frame: AnyFrame): string {
  if (frame.kind !== 'request' && frame.kind !== 'push' && frame.kind !== 'response') return ''
  if (!frame.follow && !frame.fin) return ''
  if (!frame.follow) return ' (first)'
  return frame.fin ? ' (cont.)' : ' (last)'
}

export class CaptureTable {
  private readonly chalk: ChalkInstance
  private readonly columns: number
  /** Given a width (a terminal): notes are wrapped to it. Else (a pipe, a file) they stay on one line. */
  private readonly terminal: boolean
  private readonly widths: Record<Column, number>
  /** Grows with longer connections (IPv6) as far as the terminal allows. */
  private connectionWidth: number
  private headerDone = false
  private buffer = ''

  constructor(private readonly write: (text: string) => void, options: CaptureTableOptions) {
    this.chalk = options.chalk
    this.columns = options.columns ?? 160
    this.terminal = options.columns !== undefined
    this.widths = fitWidths(this.columns)
    this.connectionWidth = this.widths.connection
  }

  event(event: CaptureOutEvent): void {
    if (!this.headerDone) {
      this.headerDone = true
      this.row(['time', 'connection', 'dir', 'kind', 'id', 'action/status', 'latency', 'payload'].map((h) => this.chalk.bold(h)), undefined, true)
    }
    const c = this.chalk
    const time = event.time === undefined ? '' : timeOfDay(event.time)
    switch (event.type) {
      case 'frame': {
        const f = event.frame
        let kind = f.kind + fragmentMark(f)
        if (event.fragments !== undefined) kind += ` (${event.fragments} frames)`
        let id = ''
        let what = ''
        let latency = ''
        let payload = ''
        switch (f.kind) {
          case 'request':
          case 'push':
            kind = f.kind === 'request' ? c.cyan(kind) : c.magenta(kind)
            id = String(f.id)
            what = clip(f.action ?? '', this.widths.what)
            break
          case 'response':
            kind = c.green(kind)
            id = String(f.id)
            what = f.status === undefined ? '' : this.status(f.status)
            latency = f.latency === null || f.latency === undefined ? '' : `${f.latency} ms`
            break
          case 'ping':
            kind = c.blue(kind)
            id = String(f.id)
            break
          case 'close':
            kind = c.yellow(kind)
            what = String(f.status)
            payload = f.message
            break
          case 'handshake-request':
            kind = c.gray(kind)
            what = clip(f.url, this.widths.what)
            payload = Object.entries(f.headers).map(([k, v]) => `${k}: ${v}`).join(' ')
            break
          case 'handshake-response':
            kind = c.gray(kind)
            what = this.status(f.status)
            payload = f.message
            break
        }
        if (f.kind === 'request' || f.kind === 'push' || f.kind === 'response') {
          // JSON, MessagePack and (with --proto) protobuf values on one line; text (text/plain, error messages) and bytes as previews.
          const failed = f.kind === 'response' && f.status !== undefined && (f.status < 200 || f.status > 299)
          const json = event.payloadJson ?? ((event.codec === 'json' || event.codec === 'msgpack') && !failed ? payloadJsonText(f, event.codec) : undefined)
          const width = this.payloadWidth()
          if (json !== undefined) payload = clip(json, width)
          else {
            const preview = payloadPreview(f.payload, { width, lines: 1 })
            payload = preview.kind === 'hex' ? c.dim(preview.text) : preview.text
          }
        } else {
          payload = clip(payload, this.payloadWidth())
        }
        this.row([time, event.connection, event.direction, kind, id, what, latency, payload])
        return
      }
      case 'error':
      {
        const text = `${event.message}${event.offset === undefined ? '' : ` (offset ${event.offset})`}`
        // A code too long for its column goes in front of the message: codes are never cut.
        const fits = event.code.length <= this.widths.what
        this.row([time, event.connection ?? '', event.direction ?? '', c.red.bold('error'), '', fits ? c.red(event.code) : '', ''], { text: fits ? text : `${event.code}: ${text}`, paint: c.red })
      }
        return
      case 'ip-fragment':
        this.row([time, `${event.src} -> ${event.dst}`, '', c.yellow.bold('ip-fragment'), String(event.id), '', ''], { text: `packet ${event.packet}: ${event.bytes} bytes at fragment offset ${event.offset}${event.more ? ', more follow' : ', the last'}; IP fragments are not reassembled`, paint: c.yellow })
        return
      case 'gap':
        this.row([time, event.connection, event.direction, c.yellow.bold('gap'), '', '', ''], { text: `${event.bytes} bytes missing at offset ${event.offset}`, paint: c.yellow })
        return
      case 'undecodable':
        this.row([time, event.connection, event.direction, c.yellow.bold('undecodable'), event.id === undefined ? '' : String(event.id), event.kind ?? '', ''], { text: undecodableText(event), paint: c.yellow })
        return
      case 'dialect': {
        if (event.error !== undefined) {
          this.row([time, event.connection, event.direction, c.red.bold('error'), '', c.red(event.error.code), ''], { text: `${event.error.message} (offset ${event.error.offset}, ${event.dialect})`, paint: c.red })
          return
        }
        const cells = dialectRowCells(event)
        this.row([time, event.connection, event.direction, cells.kind, cells.id, cells.what, '', cells.rest])
        return
      }
    }
  }

  flush(): void {
    if (this.buffer.length === 0) return
    this.write(this.buffer)
    this.buffer = ''
  }

  private payloadWidth(): number {
    const w = this.widths
    const fixed = w.time + this.connectionWidth + w.direction + w.kind + w.id + w.what + w.latency + GAPS
    return Math.max(PAYLOAD_MIN, Math.min(PAYLOAD_MAX, this.columns - fixed))
  }

  /**
   * One row, every cell cut to its column, so that it never wraps on a terminal of `columns`
   * (issue 18 point 23). A `note` (what an error, a gap or an undecodable range says) is not a
   * preview: it is wrapped onto more lines under the payload column, never cut.
   */
  private row(cells: string[], note?: { text: string; paint: (text: string) => string }, header = false): void {
    const [time, connection, direction, kind, id, what, latency] = cells
    const noteWidth = this.terminal ? this.payloadWidth() : Number.MAX_SAFE_INTEGER
    const notes = note === undefined ? [] : wrapText(note.text, noteWidth).map((line) => note.paint(line))
    const payload = note === undefined ? cells[7] : notes[0]
    const w = this.widths
    if (!header && connection.length > this.connectionWidth) {
      // Wider, while the payload keeps PAYLOAD_WANT.
      const room = this.columns - (w.time + w.direction + w.kind + w.id + w.what + w.latency + GAPS + PAYLOAD_WANT)
      this.connectionWidth = Math.max(this.connectionWidth, Math.min(connection.length, room))
    }
    const line = [
      pad(fitCell(time, w.time), w.time), pad(fitConnection(connection, this.connectionWidth), this.connectionWidth),
      pad(fitCell(direction, w.direction), w.direction), pad(fitCell(kind, w.kind), w.kind), pad(fitCell(id, w.id), w.id, true),
      pad(fitCell(what, w.what), w.what), pad(fitCell(latency, w.latency), w.latency, true), fitCell(payload, note === undefined ? this.payloadWidth() : noteWidth),
    ].join('  ')
    this.buffer += `${line.trimEnd()}\n`
    if (notes.length > 1) {
      const indent = ' '.repeat(w.time + this.connectionWidth + w.direction + w.kind + w.id + w.what + w.latency + GAPS)
      for (const more of notes.slice(1)) this.buffer += `${indent}${more}\n`
    }
    if (this.buffer.length > 64 * 1024) this.flush()
  }

  private status(status: number): string {
    return colorStatus(this.chalk, status)
  }
}

/** `03:04:05.123456` (UTC), microseconds truncated. */
export function timeOfDay(ns: bigint): string {
  const { second, micros } = splitNs(ns)
  return `${isoSecond(second).slice(-8)}.${String(micros).padStart(6, '0')}`
}

/** What an undecodable row says. */
function undecodableText(event: CaptureUndecodableOut): string {
  const range = `${event.bytes} bytes from offset ${event.offset}`
  if (event.lost === 'frame') return `${range}: a frame lost in a gap; decoding goes on at offset ${event.offset + event.bytes}`
  if (event.lost === 'message') return `${range}: frames of a message that lost one in a gap, not joined`
  if (event.lost === 'end' && event.fragments !== undefined) return `${range}: ${event.fragments} fragment${event.fragments === 1 ? '' : 's'} of a message whose last one the capture ends before; no protocol error`
  if (event.lost === 'close') return `${range}: ${event.fragments} fragment${event.fragments === 1 ? '' : 's'} of a message the connection closed before its last one`
  if (event.lost === 'end') return `${range}: a frame the capture ends inside${event.missing === undefined ? '' : `, ${event.missing} more bytes not captured`}; no protocol error`
  return `${range} not decoded (after a gap)`
}

/** The summary line for stderr. */
export function captureSummaryLine(s: CaptureSummary, format: string | null, bytes: number): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  const stmp = s.stmpConnections.stream + s.stmpConnections.websocket
  const tls = s.skippedTls > 0 ? `, ${s.skippedTls} of them TLS (encrypted, not decodable)` : ''
  const others = Object.entries(s.dialects ?? {}).map(([name, n]) => `; ${n} ${name}`).join('')
  let line = `${plural(s.connections, 'connection')} (${stmp} STMP: ${s.stmpConnections.stream} stream, ${s.stmpConnections.websocket} websocket${others}; ${s.skippedConnections} skipped${tls})`
  const kinds = Object.entries(s.framesByKind).map(([k, n]) => `${n} ${k}`).join(', ')
  line += `, ${plural(s.frames, 'frame')}${kinds === '' ? '' : ` (${kinds})`}`
  if (s.shown !== s.frames) line += `, ${s.shown} shown`
  if (s.errors > 0) {
    const codes = Object.entries(s.errorCodes).map(([code, n]) => (n === 1 ? code : `${code} x${n}`))
    line += `, ${plural(s.errors, 'error')} (${codes.join(', ')})`
  } else {
    line += ', no errors'
  }
  const lost = s.lostFrames > 0 ? `; ${plural(s.lostFrames, 'frame')} lost in them, decoded on after` : ''
  line += s.gaps > 0 ? `, ${plural(s.gaps, 'gap')} (${s.gapBytes} bytes missing${lost})` : ', no gaps'
  if (s.cutAtEnd > 0) line += `, the capture ends inside ${s.cutAtEnd === 1 ? 'a frame' : `${s.cutAtEnd} frames or messages`} (shown as undecodable, no error)`
  if (s.ipFragments > 0) line += `, ${plural(s.ipFragments, 'IP fragment')} of TCP (not reassembled)`
  if (s.cutShortPackets > 0) line += `, ${plural(s.cutShortPackets, 'packet')} cut short by the snap length (capture with -s 0 for whole packets)`
  return `${line} in ${plural(s.packets, 'packet')}, ${plural(bytes, 'byte')} of ${format ?? 'capture'}`
}
