import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/sockhop')

export interface Read { direction: 'client' | 'server'; ms: number; bytes: Buffer }

/** The reads of a proxy transcript (fixtures/sockhop/README.md): direction, time, bytes of each. */
export function transcriptReads(name = 'sockhop_v2_unix.log'): Read[] {
  const reads: Read[] = []
  let current: Read | undefined
  for (const line of readFileSync(join(FIXTURES, name), 'utf8').split('\n')) {
    const head = /^\[\+(\d+)ms\] conn#\d+ (C->S|S->C) (\d+) bytes$/.exec(line)
    if (head) {
      current = { direction: head[2] === 'C->S' ? 'client' : 'server', ms: Number(head[1]), bytes: Buffer.alloc(0) }
      reads.push(current)
      continue
    }
    const dump = /^ {4}[0-9a-f]{4} {2}((?:[0-9a-f]{2} ?)+)/.exec(line)
    if (dump && current) current.bytes = Buffer.concat([current.bytes, Buffer.from(dump[1].replace(/ /g, ''), 'hex')])
  }
  return reads
}

/** One direction's bytes, in order. */
export function directionBytes(direction: 'client' | 'server', name?: string): Buffer {
  return Buffer.concat(transcriptReads(name).filter((r) => r.direction === direction).map((r) => r.bytes))
}
