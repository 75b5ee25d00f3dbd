import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../../helpers/cli.js'

export const FIXTURES = join(ROOT, 'test/fixtures/stmp-go')

/** One read of the logging proxy (raw bytes), or one WebSocket message it parsed out of reads. */
export interface LoggedBlock {
  from: 'client' | 'server'
  bytes: Buffer
  /** WebSocket messages only: the opcode the proxy saw. */
  op?: string
}

/**
 * The blocks of a transcript in test/fixtures/stmp-go (`hexdump -C`-style lines under each
 * `[+Nms] conn#1 C->S N bytes` read, and under each `[ws ...]` frame the proxy parsed).
 */
export function transcript(file: string): { reads: LoggedBlock[]; messages: LoggedBlock[] } {
  const lines = readFileSync(join(FIXTURES, file), 'utf8').split('\n')
  const reads: LoggedBlock[] = []
  const messages: LoggedBlock[] = []
  let target: { from: 'client' | 'server'; hex: string[]; op?: string; list: LoggedBlock[] } | undefined
  const flush = () => {
    if (target) target.list.push({ from: target.from, bytes: Buffer.from(target.hex.join(''), 'hex'), ...(target.op ? { op: target.op } : {}) })
    target = undefined
  }
  for (const line of lines) {
    const read = /^\[\+\d+ms\] conn#\d+ (C->S|S->C) (\d+) bytes$/.exec(line)
    if (read) {
      flush()
      target = { from: read[1] === 'C->S' ? 'client' : 'server', hex: [], list: reads }
      continue
    }
    const ws = /^\s+\[ws (C->S|S->C) fin=1 op=(\w+) /.exec(line)
    if (ws) {
      flush()
      target = { from: ws[1] === 'C->S' ? 'client' : 'server', hex: [], op: ws[2], list: messages }
      continue
    }
    const hex = /^\s{4}[0-9a-f]{4} {2}((?:[0-9a-f]{2} {1,2})+)\s*\|/.exec(line)
    if (hex && target) {
      target.hex.push(hex[1].replace(/\s+/g, ''))
      continue
    }
    if (/^\[\+/.test(line) || /^proxy|^conn#/.test(line)) flush()
  }
  flush()
  return { reads, messages }
}

/** The bytes one side sent on a stream transcript, in order. */
export function streamBytes(file: string, from: 'client' | 'server'): Buffer {
  return Buffer.concat(transcript(file).reads.filter((r) => r.from === from).map((r) => r.bytes))
}
