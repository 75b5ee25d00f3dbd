import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StmpError } from '../../src/lib/errors.js'
import { readData } from '../../src/lib/payload/index.js'

let dir: string

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'stmp-data-'))
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(StmpError)
    return (err as StmpError).code
  }
  return undefined
}

const noStdin = Readable.from([])

describe('readData', () => {
  it('a literal is its UTF-8 bytes; no data is an empty payload', async () => {
    expect((await readData('{"a":"é"}', noStdin)).toString('utf8')).toBe('{"a":"é"}')
    expect((await readData(undefined, noStdin)).length).toBe(0)
  })

  it('@file reads the bytes unchanged', async () => {
    const file = path.join(dir, 'body.bin')
    const bytes = Buffer.from([0, 0xff, 0x0a, 0x40])
    writeFileSync(file, bytes)
    expect(await readData(`@${file}`, noStdin)).toEqual(bytes)
  })

  it('@- reads all of stdin', async () => {
    const stdin = Readable.from([Buffer.from('{"a":'), Buffer.from('1}')])
    expect((await readData('@-', stdin)).toString()).toBe('{"a":1}')
  })

  it('a missing file is BAD_FILE', async () => {
    expect(await codeOf(readData(`@${path.join(dir, 'missing.json')}`, noStdin))).toBe('BAD_FILE')
    expect(await codeOf(readData('@', noStdin))).toBe('BAD_FILE')
  })

  it('over the size cap is BAD_INPUT, for a literal, a file and stdin', async () => {
    const file = path.join(dir, 'big.txt')
    writeFileSync(file, 'x'.repeat(11))
    expect(await codeOf(readData('x'.repeat(11), noStdin, { maxBytes: 10 }))).toBe('BAD_INPUT')
    expect(await codeOf(readData(`@${file}`, noStdin, { maxBytes: 10 }))).toBe('BAD_INPUT')
    const stdin = Readable.from([Buffer.alloc(6), Buffer.alloc(6)])
    expect(await codeOf(readData('@-', stdin, { maxBytes: 10 }))).toBe('BAD_INPUT')
    expect((await readData('x'.repeat(10), noStdin, { maxBytes: 10 })).length).toBe(10)
  })
})
