import { stripVTControlCharacters } from 'node:util'
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

const WIDTH = { time: 15, connection: 0, direction: 6, kind: 18, id: 5, what: 24, latency: 7 }

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
  private connectionWidth = 33
  private headerDone = false
  private buffer = ''

  constructor(private readonly write: (text: string) => void, options: CaptureTableOptions) {
    this.chalk = options.chalk
    this.columns = options.columns ?? 160
  }

  event(event: CaptureOutEvent): void {
    if (!this.headerDone) {
      this.headerDone = true
      this.row(['time', 'connection', 'dir', 'kind', 'id', 'action/status', 'latency', 'payload'].map((h) => this.chalk.bold(h)), true)
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
            what = clip(f.action ?? '', WIDTH.what)
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
            what = clip(f.url, WIDTH.what)
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
        this.row([time, event.connection ?? '', event.direction ?? '', c.red.bold('error'), '', c.red(event.code), '', c.red(clip(`${event.message}${event.offset === undefined ? '' : ` (offset ${event.offset})`}`, this.payloadWidth()))])
        return
      case 'ip-fragment':
        this.row([time, `${event.src} -> ${event.dst}`, '', c.yellow.bold('ip-fragment'), String(event.id), '', '', c.yellow(`packet ${event.packet}: ${event.bytes} bytes at fragment offset ${event.offset}${event.more ? ', more follow' : ', the last'}; IP fragments are not reassembled`)])
        return
      case 'gap':
        this.row([time, event.connection, event.direction, c.yellow.bold('gap'), '', '', '', c.yellow(`${event.bytes} bytes missing at offset ${event.offset}`)])
        return
      case 'undecodable':
        this.row([time, event.connection, event.direction, c.yellow.bold('undecodable'), event.id === undefined ? '' : String(event.id), event.kind ?? '', '', c.yellow(undecodableText(event))])
        return
    }
  }

  flush(): void {
    if (this.buffer.length === 0) return
    this.write(this.buffer)
    this.buffer = ''
  }

  private payloadWidth(): number {
    const fixed = WIDTH.time + this.connectionWidth + WIDTH.direction + WIDTH.kind + WIDTH.id + WIDTH.what + WIDTH.latency + 8 * 2
    return Math.max(16, Math.min(100, this.columns - fixed))
  }

  private row(cells: string[], header = false): void {
    const [time, connection, direction, kind, id, what, latency, payload] = cells
    if (!header && connection.length > this.connectionWidth) this.connectionWidth = connection.length
    const line = [
      pad(time, WIDTH.time), pad(connection, this.connectionWidth), pad(direction, WIDTH.direction), pad(kind, WIDTH.kind),
      pad(id, WIDTH.id, true), pad(what, WIDTH.what), pad(latency, WIDTH.latency, true), payload,
    ].join('  ')
    this.buffer += `${line.trimEnd()}\n`
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
  if (event.lost === 'end') return `${range}: a frame the capture ends inside${event.missing === undefined ? '' : `, ${event.missing} more bytes not captured`}; no protocol error`
  return `${range} not decoded (after a gap)`
}

/** The summary line for stderr. */
export function captureSummaryLine(s: CaptureSummary, format: string | null, bytes: number): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
  const stmp = s.stmpConnections.stream + s.stmpConnections.websocket
  const tls = s.skippedTls > 0 ? `, ${s.skippedTls} of them TLS (encrypted, not decodable)` : ''
  let line = `${plural(s.connections, 'connection')} (${stmp} STMP: ${s.stmpConnections.stream} stream, ${s.stmpConnections.websocket} websocket; ${s.skippedConnections} skipped${tls})`
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
