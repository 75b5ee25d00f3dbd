import { existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
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

  it('save-dir: chunks past the announced size (or far past the fetched offsets) are not saved: tx-refused TOO_LARGE, no file', async () => {
    // A raw peer: TX_START "over" of size 3, then 5 bytes; TX_START "far" (pull, size 10) with a chunk at offset 2^40.
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
    await new Promise<void>((r) => wss.once('listening', () => r()))
    wss.on('connection', (ws) => {
      const sid = Buffer.alloc(8)
      const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b }
      const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return b }
      ws.send(Buffer.concat([sid, Buffer.from([0xff]), u32(0), u32(1), u64(1n)]))
      ws.send(Buffer.concat([sid, Buffer.from([0x00]), u32(1), u32(0), u64(3n), Buffer.from([0]), Buffer.from('over')]))
      ws.send(Buffer.concat([sid, Buffer.from([0x01]), u32(0), u64(0n), Buffer.from('12345')]))
      ws.send(Buffer.concat([sid, Buffer.from([0x02]), u32(2), u32(0)]))
      ws.send(Buffer.concat([sid, Buffer.from([0x00]), u32(3), u32(1), u64(10n), Buffer.from([1]), Buffer.from('far')]))
      ws.send(Buffer.concat([sid, Buffer.from([0x01]), u32(1), u64(1n << 40n), Buffer.from('xx')]))
      ws.send(Buffer.concat([sid, Buffer.from([0x02]), u32(4), u32(1)]))
    })
    const dir = tempDir()
    const events: [string, Record<string, unknown>][] = []
    const c = await connect(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, { dialect: 'camp', dialectOptions: { 'save-dir': dir }, prepare: (s) => { s.onEvent = (n, d) => { events.push([n, d]) } } })
    for (let t = 0; t < 80 && events.filter(([n]) => n === 'tx-finish').length < 2; t++) await new Promise((r) => setTimeout(r, 25))
    expect(events.filter(([n]) => n === 'tx-refused').map(([, d]) => [d.name, d.code])).toEqual([['over', 'TOO_LARGE'], ['far', 'TOO_LARGE']])
    expect(events.some(([n]) => n === 'tx-saved')).toBe(false)
    expect(readdirSync(dir)).toEqual([])
    c.transport.destroy()
    wss.close()
  })
})
