import { stripVTControlCharacters } from 'node:util'
import { Chalk } from 'chalk'
import { describe, expect, it } from 'vitest'
import type { CaptureOutEvent } from '../../src/lib/capture/stmp.js'
import { CaptureTable, captureSummaryLine, timeOfDay } from '../../src/lib/render/capture-table.js'

const CONN = '10.0.0.1:4000 -> 10.0.0.2:5000'
const T = 1_795_316_645_123_456_789n
const frame = (f: Extract<CaptureOutEvent, { type: 'frame' }>['frame'], direction: 'client' | 'server' = 'client'): CaptureOutEvent => ({
  type: 'frame', frame: f, offset: 0, length: 10, time: T, connection: CONN, connId: 1, direction, transport: 'stream', format: 'binary', codec: 'json',
})

function render(level: 0 | 1, events: CaptureOutEvent[]): string[] {
  let out = ''
  const table = new CaptureTable((text) => { out += text }, { chalk: new Chalk({ level }), columns: 160 })
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
