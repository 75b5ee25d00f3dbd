import Table from 'cli-table3'
import type { ChalkInstance } from 'chalk'
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
}

const HEAD = ['offset', 'length', 'kind', 'id', 'action/status', 'latency', 'payload']
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

  constructor(options: DecodeTableOptions) {
    this.chalk = options.chalk
    this.previewWidth = Math.max(16, Math.min(100, (options.columns ?? 120) - FIXED_WIDTH))
    this.previewLines = options.previewLines ?? 6
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
    const c = this.chalk
    const table = new Table({
      head: HEAD.map((h) => c.bold(h)),
      // No cli-table3 colours: it has its own colour detection, which ignores NO_COLOR.
      style: { head: [], border: [] },
      colAligns: ['right', 'right', 'left', 'right', 'left', 'right', 'left'],
    })
    for (const row of this.rows) table.push(row)
    return table.toString()
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
