import { stripVTControlCharacters } from 'node:util'
import { Chalk } from 'chalk'
import { describe, expect, it } from 'vitest'
import type { CaptureOutEvent } from '../../src/lib/capture/stmp.js'
import { CaptureTable, captureSummaryLine, fitCell, fitConnection, timeOfDay } from '../../src/lib/render/capture-table.js'

const CONN = '10.0.0.1:4000 -> 10.0.0.2:5000'
const T = 1_795_316_645_123_456_789n
const frame = (f: Extract<CaptureOutEvent, { type: 'frame' }>['frame'], direction: 'client' | 'server' = 'client'): CaptureOutEvent => ({
  type: 'frame', frame: f, offset: 0, length: 10, time: T, connection: CONN, connId: 1, direction, transport: 'stream', format: 'binary', codec: 'json',
})

function render(level: 0 | 1, events: CaptureOutEvent[], columns = 160): string[] {
  let out = ''
  const table = new CaptureTable((text) => { out += text }, { chalk: new Chalk({ level }), columns })
  for (const e of events) table.event(e)
  table.flush()
  return out.trimEnd().split('\n')
}

describe('CaptureTable', () => {
  const events: CaptureOutEvent[] = [
    frame({ kind: 'request', id: 7, action: 'user.get', payload: Buffer.from('{"id":7}'), follow: false, fin: false }),
    frame({ kind: 'response', id: 7, status: 404, latency: 3, payload: Buffer.from('no handler'), follow: false, fin: false }, 'server'),
    { type: 'error', code: 'BAD_KIND', message: 'kind 7', offset: 12, connection: CONN, direction: 'client', time: T },
    { type: 'gap', connection: CONN, direction: 'server', offset: 100, bytes: 40, time: T },
  ]
  it('one row per event, columns aligned with and without colour', () => {
    const plain = render(0, events)
    expect(plain).toHaveLength(5)
    expect(plain[1]).toMatch(/^03:04:05\.123456 {2}10\.0\.0\.1:4000 -> 10\.0\.0\.2:5000 +client {2}request +7 {2}user\.get +\{"id":7\}$/)
    expect(plain[2]).toMatch(/server {2}response +7 {2}404 +3 ms {2}no handler$/)
    expect(plain[3]).toMatch(/error +BAD_KIND +kind 7 \(offset 12\)$/)
    expect(plain[4]).toMatch(/gap +40 bytes missing at offset 100$/)
    const coloured = render(1, events)
    expect(coloured.join('\n')).not.toBe(plain.join('\n'))
    expect(coloured.map((l) => stripVTControlCharacters(l))).toEqual(plain)
  })
  it('times and the summary line', () => {
    expect(timeOfDay(T)).toBe('03:04:05.123456')
    expect(captureSummaryLine({
      connections: 3, stmpConnections: { stream: 1, websocket: 1 }, skippedConnections: 1, frames: 4, framesByKind: { request: 2, response: 2 }, shown: 2,
      errors: 1, errorCodes: { BAD_KIND: 1 }, gaps: 1, gapBytes: 40, lostFrames: 0, cutAtEnd: 0, ipFragments: 0, cutShortPackets: 0, skippedTls: 0, packets: 20, skippedPackets: 0,
    }, 'pcapng', 1234)).toBe('3 connections (2 STMP: 1 stream, 1 websocket; 1 skipped), 4 frames (2 request, 2 response), 2 shown, 1 error (BAD_KIND), 1 gap (40 bytes missing) in 20 packets, 1234 bytes of pcapng')
    expect(captureSummaryLine({
      connections: 3, stmpConnections: { stream: 1, websocket: 0 }, skippedConnections: 2, frames: 2, framesByKind: { request: 2 }, shown: 2,
      errors: 0, errorCodes: {}, gaps: 2, gapBytes: 9, lostFrames: 2, cutAtEnd: 0, ipFragments: 3, cutShortPackets: 4, skippedTls: 1, packets: 5, skippedPackets: 0,
    }, 'pcap', 99)).toBe('3 connections (1 STMP: 1 stream, 0 websocket; 2 skipped, 1 of them TLS (encrypted, not decodable)), 2 frames (2 request), no errors, 2 gaps (9 bytes missing; 2 frames lost in them, decoded on after), 3 IP fragments of TCP (not reassembled), 4 packets cut short by the snap length (capture with -s 0 for whole packets) in 5 packets, 99 bytes of pcap')
  })
})

describe('CaptureTable on a narrow terminal (issue 18 point 23: rows were 125-158 columns wide)', () => {
  const local = '127.0.0.1:52012 -> 127.0.0.1:46227'
  const at = (e: CaptureOutEvent): CaptureOutEvent => ({ ...e, connection: local } as CaptureOutEvent)
  const events: CaptureOutEvent[] = [
    frame({ kind: 'handshake-request', url: '/?stmp_version=3&stmp_content_type=application/json', headers: { authorization: 'Bearer x'.repeat(20) } }),
    frame({ kind: 'request', id: 65535, action: 'inventory.items.reserve-all-of-them', payload: Buffer.from(JSON.stringify({ text: 'y'.repeat(300) })), follow: false, fin: true }),
    frame({ kind: 'response', id: 65535, status: 503, latency: 123456, payload: Buffer.from('z'.repeat(300)), follow: true, fin: false }, 'server'),
    { type: 'error', code: 'NO_ACTION_END', message: 'request has no \\n after its action '.repeat(5), offset: 123456789, connection: CONN, direction: 'client', time: T },
    { type: 'gap', connection: CONN, direction: 'server', offset: 100, bytes: 40, time: T },
    { type: 'undecodable', connection: CONN, direction: 'client', offset: 1234567, bytes: 7654321, lost: 'end', kind: 'request', id: 9, missing: 99999, time: T },
    { type: 'ip-fragment', src: '2001:db8:1234:5678:9abc:def0:1234:5678', dst: '2001:db8::2', id: 77, offset: 1480, more: true, bytes: 1480, packet: 1234567, time: T },
    { type: 'undecodable', connection: '[2001:db8:1234:5678:9abc:def0:1234:5678]:40000 -> [2001:db8::2]:5000', direction: 'client', offset: 1, bytes: 2, time: T },
  ]
  const long = events.map((e, i) => (i < 3 ? at(e) : e))

  it('every row fits 114, 120 and 140 columns, with and without colour; both ports of a connection show', () => {
    for (const columns of [114, 120, 140]) {
      for (const level of [0, 1] as const) {
        const lines = render(level, long, columns)
        expect(lines.length).toBeGreaterThanOrEqual(long.length + 1)
        for (const line of lines) expect([...stripVTControlCharacters(line)].length).toBeLessThanOrEqual(columns)
      }
      const plain = render(0, long, columns)
      expect(plain[2]).toMatch(/52012 -> .*46227 {2}client/)
      expect(plain[2]).toMatch(/…$/)
    }
  })

  it('what an error, a gap or an undecodable range says is wrapped under the payload column, never cut; a long error code is kept whole', () => {
    const lines = render(0, [
      { type: 'undecodable', connection: CONN, direction: 'client', offset: 1234567, bytes: 7654321, lost: 'end', kind: 'request', id: 9, missing: 99999, time: T },
      { type: 'error', code: 'TCP_CONNECTION_LIMIT', message: 'more than 10000 connections open at once; this one is not decoded', connection: CONN, direction: 'client', time: T },
    ], 120)
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(120)
    const column = lines[1].indexOf('7654321 bytes')
    const joined = (from: number) => lines.slice(from).map((l) => l.slice(column)).join(' ')
    expect(lines.length).toBeGreaterThan(3)
    expect(joined(1)).toContain('7654321 bytes from offset 1234567: a frame the capture ends inside, 99999 more bytes not captured; no protocol error')
    expect(lines.slice(2).every((l) => l.slice(0, column).trim() === '' || l.includes('error'))).toBe(true)
    expect(joined(1)).toContain('TCP_CONNECTION_LIMIT: more than 10000 connections open at once; this one is not decoded')
  })

  it('a wide terminal keeps the full layout', () => {
    const lines = render(0, long.slice(0, 3), 200)
    expect(lines[1]).toContain(`${local}  client`)
    expect(lines[2]).toContain('inventory.items.reserve')
    expect(lines[2]).toMatch(/\{"text":"y{50,}…$/)
  })

  it('fitCell keeps colour codes and closes them; fitConnection cuts each side from its start', () => {
    const red = new Chalk({ level: 1 }).red('abcdefgh')
    expect(stripVTControlCharacters(fitCell(red, 5))).toBe('abcd…')
    expect(fitCell(red, 5).endsWith('\x1b[0m')).toBe(true)
    expect(fitCell('abc', 5)).toBe('abc')
    expect(fitConnection(local, 25)).toBe('….0.1:52012 -> …0.1:46227')
    expect(fitConnection(local, 25)).toHaveLength(25)
  })
})
