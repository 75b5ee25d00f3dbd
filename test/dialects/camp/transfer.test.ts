import { existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SavedFile, badTxName, bufferSource, fileSource } from '../../../src/lib/dialects/camp/transfer.js'
import { StmpServer, connect } from '../../../src/lib/session/index.js'
import { parseAddress } from '../../../src/lib/transport/index.js'
import { tempDir } from '../../helpers/tmp.js'

describe('CAMP transaction files', () => {
  it('badTxName: path separators, "..", NUL, empty and over-long names cannot be files', () => {
    for (const bad of ['', 'a/b', '/etc/passwd', 'a\\b', '..', '.', 'x..y', '../x', 'a\0b', 'x'.repeat(256)]) expect(badTxName(bad)).toBeDefined()
    for (const ok of ['blob', 'f.bin', 'report 2026.pdf', 'ü.txt', 'x'.repeat(255)]) expect(badTxName(ok)).toBeUndefined()
  })

  it('SavedFile writes at positions and removes a partial file on abort; a symbolic link at the name is refused (SAVE_FAILED)', () => {
    const dir = tempDir()
    const f = new SavedFile(dir, 'a.bin')
    f.write(Buffer.from('abc'), 0)
    f.write(Buffer.from('de'), 3)
    f.finish()
    expect(readFileSync(join(dir, 'a.bin'), 'utf8')).toBe('abcde')
    const g = new SavedFile(dir, 'b.bin')
    g.write(Buffer.from('xy'), 0)
    g.abort()
    expect(existsSync(join(dir, 'b.bin'))).toBe(false)
    writeFileSync(join(dir, 'target'), 'keep')
    symlinkSync(join(dir, 'target'), join(dir, 'link'))
    expect(() => new SavedFile(dir, 'link')).toThrow(expect.objectContaining({ code: 'SAVE_FAILED' }))
    expect(readFileSync(join(dir, 'target'), 'utf8')).toBe('keep')
  })

  it('sources read chunks into a frame: a buffer, a file; a missing file or a directory is BAD_FILE', () => {
    const t = Buffer.alloc(6, 0)
    expect(bufferSource(Buffer.from('hello')).readInto(t, 1, 3, 10)).toBe(2)
    expect(t.toString('latin1', 1, 3)).toBe('lo')
    const dir = tempDir()
    writeFileSync(join(dir, 'f'), 'abcdef')
    const s = fileSource(join(dir, 'f'))
    expect(s.size).toBe(6)
    expect(s.readInto(t, 0, 4, 6)).toBe(2)
    expect(t.toString('latin1', 0, 2)).toBe('ef')
    s.close()
    expect(() => fileSource(join(dir, 'nope'))).toThrow(expect.objectContaining({ code: 'BAD_FILE' }))
    expect(() => fileSource(dir)).toThrow(expect.objectContaining({ code: 'BAD_FILE' }))
  })

  it('a transaction cut by a TX_CANCEL (the sender closing mid-stream) leaves no file in save-dir; a finished one is there', async () => {
    const dir = tempDir()
    const src = tempDir()
    writeFileSync(join(src, 'big.bin'), Buffer.alloc(4 * 1024 * 1024, 3))
    writeFileSync(join(src, 'small.bin'), 'small')
    const events: [string, Record<string, unknown>][] = []
    const server = new StmpServer({ dialect: 'camp', dialectOptions: { 'save-dir': dir }, onEvent: (n, d) => { events.push([n, d]) } })
    const l = await server.listen(parseAddress('ws://127.0.0.1:0/', { listening: true }))
    const c = await connect(`ws://127.0.0.1:${l.address.port}/`, { dialect: 'camp' })
    const sent: Record<string, unknown>[] = []
    c.onEvent = (n, d) => { if (n === 'tx-sent') sent.push(d) }
    c.command('tx-send-file', { path: join(src, 'small.bin') })
    for (let t = 0; t < 80 && !events.some(([n]) => n === 'tx-saved'); t++) await new Promise((r) => setTimeout(r, 25))
    expect(events.find(([n]) => n === 'tx-saved')?.[1]).toEqual({ txId: 0, name: 'small.bin', path: join(dir, 'small.bin'), bytes: 5 })
    c.command('tx-send-file', { path: join(src, 'big.bin') })
    // The close comes while the 4 MiB are still going out (1 MiB at a time): TX_CANCEL, then BYE.
    await c.close(1000, '')
    for (let t = 0; t < 80 && !events.some(([n]) => n === 'tx-cancel'); t++) await new Promise((r) => setTimeout(r, 25))
    expect(sent.map((d) => [d.name, d.cancelled ?? false])).toEqual([['small.bin', false], ['big.bin', true]])
    expect(events.some(([n, d]) => n === 'tx-cancel' && d.txId === 1)).toBe(true)
    expect(readdirSync(dir)).toEqual(['small.bin'])
    await server.close(100)
  })
})
