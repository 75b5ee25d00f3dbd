import Table from 'cli-table3'
import type { ChalkInstance } from 'chalk'
import stringWidth from 'string-width'
import type { AnyFrame } from '../codec/index.js'
import type { DecodeEvent } from '../capture/decode-bytes.js'
import { colorStatus } from './colors.js'
import { clipText, payloadPreview, type Preview } from './preview.js'

/**
 * `decode`'s human output: one table row per frame and per protocol error, in input order.
 * Columns: offset, length, kind, id, action or status, latency, payload preview.
 */

export interface DecodeTableOptions {
  chalk: ChalkInstance
  /** Terminal width; the payload column takes what the others leave. */
  columns?: number
  /** Lines of payload preview per row. */
  previewLines?: number
  /** Rows per cli-table3 table when a large table is drawn in pieces (default 1000). */
  chunkRows?: number
}

const HEAD = ['offset', 'length', 'kind', 'id', 'action/status', 'latency', 'payload']
/** Rows drawn by one cli-table3 table; a larger table is drawn in pieces (render). */
const CHUNK_ROWS = 1000

/** The widest line of a cell, as cli-table3 measures it (colour codes and wide characters). */
function cellWidth(cell: string): number {
  let width = 0
  for (const line of cell.split('\n')) width = Math.max(width, stringWidth(line))
  return width
}

/** Room the six narrow columns and the borders take, roughly. */
const FIXED_WIDTH = 62

function fragment(follow: boolean, fin: boolean): string {
  if (!follow && !fin) return ''
  if (!follow) return ' (first)'
  return fin ? ' (cont.)' : ' (last)'
}

export class DecodeTable {
  private readonly rows: string[][] = []
  private readonly chalk: ChalkInstance
  private readonly previewWidth: number
  private readonly previewLines: number
  private readonly chunkRows: number

  constructor(options: DecodeTableOptions) {
    this.chalk = options.chalk
    this.previewWidth = Math.max(16, Math.min(100, (options.columns ?? 120) - FIXED_WIDTH))
    this.previewLines = options.previewLines ?? 6
    this.chunkRows = options.chunkRows ?? CHUNK_ROWS
  }

  get size(): number {
    return this.rows.length
  }

  event(event: DecodeEvent): void {
    const c = this.chalk
    if (event.type === 'error') {
      const e = event.error
      this.rows.push([String(e.offset), '', c.red.bold('error'), e.messageId === undefined ? '' : String(e.messageId), c.red(e.code), '', c.red(this.clip(e.message))])
      return
    }
    this.rows.push([String(event.offset), String(event.length), ...this.frameCells(event.frame)])
  }

  render(): string {
    if (this.rows.length <= this.chunkRows) return this.table(this.rows).toString()
    // cli-table3 lays out a whole table at once, in time that grows faster than its rows (20,000
    // rows took 36 s of CPU) and with a call stack that overflows past about 120,000. Large
    // tables are drawn in pieces of chunkRows rows with the column widths of the whole table,
    // and joined where one piece's bottom border meets the next one's top: the same text.
    const widths = HEAD.map((h) => stringWidth(h))
    for (const row of this.rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i], cellWidth(cell)) })
    for (let i = 0; i < widths.length; i++) widths[i] += 2
    const separator = `├${widths.map((w) => '─'.repeat(w)).join('┼')}┤`
    const pieces: string[] = []
    for (let start = 0; start < this.rows.length; start += this.chunkRows) {
      const lines = this.table(this.rows.slice(start, start + this.chunkRows), widths, start === 0).toString().split('\n')
      if (start > 0) lines.shift()
      if (start + this.chunkRows < this.rows.length) lines[lines.length - 1] = separator
      pieces.push(lines.join('\n'))
    }
    return pieces.join('\n')
  }

  private table(rows: string[][], colWidths?: number[], head = true): Table.Table {
    const c = this.chalk
    const table = new Table({
      head: head ? HEAD.map((h) => c.bold(h)) : [],
      // No cli-table3 colours: it has its own colour detection, which ignores NO_COLOR.
      style: { head: [], border: [] },
      colAligns: ['right', 'right', 'left', 'right', 'left', 'right', 'left'],
      ...(colWidths ? { colWidths } : {}),
    })
    for (const row of rows) table.push(row)
    return table
  }

  private frameCells(frame: AnyFrame): string[] {
    const c = this.chalk
    switch (frame.kind) {
      case 'request':
      case 'push': {
        const color = frame.kind === 'request' ? c.cyan : c.magenta
        return [color(frame.kind + fragment(frame.follow, frame.fin)), String(frame.id), this.clip(frame.action ?? '', 32), '', this.preview(payloadPreview(frame.payload, this.previewOptions()))]
      }
      case 'response': {
        const status = frame.status === undefined ? '' : this.status(frame.status)
        const latency = frame.latency === null || frame.latency === undefined ? '' : `${frame.latency} ms`
        return [c.green('response' + fragment(frame.follow, frame.fin)), String(frame.id), status, latency, this.preview(payloadPreview(frame.payload, this.previewOptions()))]
      }
      case 'ping':
        return [c.blue('ping'), String(frame.id), '', '', '']
      case 'close':
        return [c.yellow('close'), '', String(frame.status), '', this.clip(frame.message)]
      case 'handshake-request': {
        const headers = Object.entries(frame.headers).map(([k, v]) => `${k}: ${v}`)
        return [c.gray('handshake-request'), '', this.clip(frame.url, 40), '', this.clipLines(headers)]
      }
      case 'handshake-response':
        return [c.gray('handshake-response'), '', this.status(frame.status), '', this.clip(frame.message)]
    }
  }

  private status(status: number): string {
    return colorStatus(this.chalk, status)
  }

  private preview(p: Preview): string {
    if (p.kind === 'hex') return this.chalk.dim(p.text)
    return p.text
  }

  private previewOptions() {
    return { width: this.previewWidth, lines: this.previewLines }
  }

  private clip(text: string, width = this.previewWidth): string {
    return clipText(text.replace(/\n/g, ' '), { width, lines: 1 })
  }

  private clipLines(lines: string[]): string {
    return clipText(lines.join('\n'), this.previewOptions())
  }
}
