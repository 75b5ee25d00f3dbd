import { describe, expect, it } from 'vitest'
import { decodePacket, decodePacketText, encodePacket } from '../../../src/lib/dialects/stmp-go/codec.js'
import { template } from '../../../src/lib/dialects/stmp-go/template.js'
import { runCli } from '../../helpers/cli.js'

const ctx = (framing: 'stream' | 'websocket', options: Record<string, unknown> = {}) => ({ framing, kind: 'request' as const, options, fragmentSize: 16384 })

describe('stmp-go bench template', () => {
  it('the request once, its mid patched little-endian: the same bytes the codec writes', () => {
    const t = template.build('0x1234', Buffer.from('{"x":1}'), ctx('stream'))!
    const frame = Buffer.from(t.bytes)
    t.patch(frame, 0, 0x0102)
    expect(frame.equals(encodePacket({ kind: 'request', mid: 0x0102, action: 0x1234, payload: Buffer.from('{"x":1}') }, true))).toBe(true)
    const text = template.build('0x1234', Buffer.from('{}'), ctx('websocket', { format: 'text' }))!
    const m = Buffer.from(text.bytes)
    text.patch(m, 0, 0xab)
    expect(decodePacketText(m)).toMatchObject({ kind: 'request', mid: 0xab, action: 0x1234 })
    const ws = template.build('a.B.c', Buffer.from('{}'), ctx('websocket'))!
    expect(decodePacket(ws.bytes, 0, ws.bytes.length, false)?.packet).toMatchObject({ kind: 'request', method: 'a.B.c' })
  })

  it('the scanner finds whole Responses without headers, stops at anything else, skips mid 0', () => {
    const t = template.build('0x1', Buffer.alloc(0), ctx('stream'))!
    const big = Buffer.alloc(300, 0x61)
    const bytes = Buffer.concat([
      encodePacket({ kind: 'response', mid: 7, status: 0, payload: Buffer.from('ok') }, true),
      encodePacket({ kind: 'response', mid: 0, status: 0x22, payload: Buffer.from('NotFound') }, true),
      encodePacket({ kind: 'response', mid: 0x0201, status: 0x40, payload: big }, true),
      encodePacket({ kind: 'response', mid: 9, status: 0, payload: Buffer.alloc(0) }, true),
      encodePacket({ kind: 'response', mid: 8, status: 0, headers: [['a', 'b']], payload: Buffer.from('x') }, true),
    ])
    const seen: [number, number][] = []
    const stop = t.scan(bytes, 0, bytes.length, (id, status) => seen.push([id, status]))
    expect(seen).toEqual([[7, 200], [0x0201, 500], [9, 200]])
    // Stopped at the Response with a header: the Wire decodes it.
    expect(bytes[stop]).toBe(0xcc)
    // A Response cut short is left for the Wire too.
    expect(t.scan(bytes, 0, 3, () => undefined)).toBe(0)
  })

  it('no template on a gzip connection (the Wire compresses)', () => {
    expect(template.build('0x1', Buffer.alloc(0), ctx('stream', { contentEncoding: 'gzip' }))).toBeUndefined()
  })

  it('bench --dialect stmp-go against its embedded echo server: every request answered 2xx, plain and gzip', { timeout: 60_000 }, async () => {
    for (const extra of [[], ['-O', 'gzip=1']]) {
      const r = await runCli(['bench', '--dialect', 'stmp-go', '-n', '2000', '--json', ...extra])
      expect(r.code).toBe(0)
      const j = JSON.parse(r.stdout) as { totals: { sent: number; ok: number; errors: number }; settings: { dialect: string } }
      expect(j.settings.dialect).toBe('stmp-go')
      expect(j.totals).toMatchObject({ sent: 2000, ok: 2000, errors: 0 })
    }
  })
})
