import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../../helpers/cli.js'

/**
 * The WebSocket messages of test/fixtures/camp/camp.log (the real CAMP server and its client
 * through a logging proxy): one entry per `[ws ...]` block, its unmasked payload, in order.
 */
export interface LoggedFrame {
  from: 'client' | 'server'
  opcode: 'binary' | 'close' | 'text'
  bytes: Buffer
}

export const FIXTURES = join(ROOT, 'test/fixtures/camp')

export function loggedFrames(): LoggedFrame[] {
  const lines = readFileSync(join(FIXTURES, 'camp.log'), 'utf8').split('\n')
  const out: LoggedFrame[] = []
  for (let i = 0; i < lines.length; i++) {
    const ws = /^\s+\[ws (C->S|S->C) fin=1 op=(\w+) masked=\d len=(\d+)\]/.exec(lines[i])
    if (!ws) continue
    const hex: string[] = []
    // text="..." then the payload's hexdump lines.
    for (let j = i + 2; j < lines.length; j++) {
      const m = /^\s{4}[0-9a-f]{4}\s{2}((?:[0-9a-f]{2} ?)+)/.exec(lines[j])
      if (!m) break
      hex.push(m[1].replace(/\s+/g, ''))
    }
    const bytes = Buffer.from(hex.join(''), 'hex')
    if (bytes.length !== Number(ws[3])) throw new Error(`camp.log line ${i + 1}: ${bytes.length} bytes read, len=${ws[3]}`)
    out.push({ from: ws[1] === 'C->S' ? 'client' : 'server', opcode: ws[2] as LoggedFrame['opcode'], bytes })
  }
  return out
}
