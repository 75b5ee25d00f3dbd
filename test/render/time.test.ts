import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CaptureDecoder } from '../../src/lib/capture/decoder.js'
import { CaptureStmpDecoder } from '../../src/lib/capture/stmp.js'
import { LinkType } from '../../src/lib/capture/types.js'
import { buildCapture, TcpConversation } from '../helpers/pcap-writer.js'
import { encodeFrame, encodeHandshakeRequest } from '../../src/lib/codec/index.js'
import { captureLine, IsoTime } from '../../src/lib/render/capture-ndjson.js'
import { timeOfDay } from '../../src/lib/render/capture-table.js'
import { civilIsoSecond, isoSecond } from '../../src/lib/render/time.js'

const DATE_LIMIT = 8_640_000_000_000

describe('capture times as ISO 8601', () => {
  it('computes the civil date by integer arithmetic exactly as Date does, across the whole Date range', () => {
    fc.assert(fc.property(fc.integer({ min: -DATE_LIMIT, max: DATE_LIMIT }), (second) => {
      expect(civilIsoSecond(BigInt(second))).toBe(new Date(second * 1000).toISOString().slice(0, -5))
    }), { numRuns: 5000 })
    for (const second of [0, -1, 86_399, 86_400, 951_782_400, 253_402_300_799, 253_402_300_800, -62_167_219_200, -62_167_219_201]) {
      expect(civilIsoSecond(BigInt(second)), String(second)).toBe(new Date(second * 1000).toISOString().slice(0, -5))
    }
  })

  it('writes times past what a Date holds with an expanded year instead of failing', () => {
    expect(isoSecond(8_640_000_000_001n)).toBe('+275760-09-13T00:00:01')
    expect(isoSecond(-8_640_000_000_001n)).toBe('-271821-04-19T23:59:59')
    // 2^64 - 1 seconds: the largest pcapng timestamp with if_tsresol = 0 (seconds).
    expect(isoSecond(18_446_744_073_709_551_615n)).toBe('+584554051223-11-09T07:00:15')
    const time = new IsoTime()
    expect(time.format(-1n)).toBe('1969-12-31T23:59:59.999999Z')
    expect(time.format(-1_000_000_000n)).toBe('1969-12-31T23:59:59.000000Z')
    expect(timeOfDay(-1n)).toBe('23:59:59.999999')
  })

  it('decodes a pcapng whose interface counts whole seconds and whose timestamps are huge', () => {
    // if_tsresol 0: one unit per second; 9e15 s is past the Date range (it made decode fail before).
    const c = new TcpConversation({ client: { ip: '10.0.0.1', port: 4000 }, server: { ip: '10.0.0.2', port: 5000 }, startTime: 9_000_000_000_000_000n * 1_000_000_000n })
    const opts = { format: 'binary', framing: 'stream', serverLatency: false } as const
    const packets = [...c.handshake(), ...c.send('client', encodeHandshakeRequest({ url: '/?stmp_version=3', headers: {} })), ...c.send('client', encodeFrame({ kind: 'ping', id: 1 }, opts))]
    const capture = buildCapture({ format: 'pcapng', interfaces: [{ linkType: LinkType.ETHERNET, tsresol: 0 }] }, packets)
    const lines: string[] = []
    const stmp = new CaptureStmpDecoder((event) => lines.push(captureLine(event)))
    const decoder = new CaptureDecoder((event) => stmp.event(event))
    decoder.write(capture)
    decoder.end()
    stmp.end()
    const frames = lines.map((l) => JSON.parse(l) as { kind?: string; time: string })
    expect(frames.map((f) => f.kind)).toEqual(['handshake-request', 'ping'])
    expect(frames[1].time).toBe('+285200616-07-24T16:00:00.000000Z')
  })
})
