import { PassThrough, Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { createCaptureStream, decodeCapture } from '../../src/lib/capture/decoder.js'
import { LinkType, type CaptureEvent } from '../../src/lib/capture/types.js'
import { CaptureWriter, TcpConversation, writeCapture } from '../helpers/pcap-writer.js'
import { comparable, ofType, streamOf } from './helpers.js'

/** Capture chunks generated lazily: header, then the packets of `connections` conversations. */
function* generate(writer: CaptureWriter, connections: number, bytesEach: number): Generator<Buffer> {
  yield writer.header()
  for (let i = 0; i < connections; i++) {
    const conv = new TcpConversation({ client: { ip: '10.2.0.1', port: 20000 + i }, server: { ip: '10.2.0.2', port: 9000 }, clientIsn: 0xffff0000 + i })
    for (const p of conv.handshake()) yield writer.packet(p.time, p.ip)
    for (const p of conv.send('client', Buffer.alloc(bytesEach, i), 1448)) yield writer.packet(p.time, p.ip)
    for (const p of conv.send('server', Buffer.alloc(bytesEach / 2, 255 - i), 1448)) yield writer.packet(p.time, p.ip)
    for (const p of conv.close()) yield writer.packet(p.time, p.ip)
  }
}

describe('streaming', () => {
  it('writeCapture writes to a stream with backpressure, and createCaptureStream decodes it chunk by chunk', async () => {
    const writer = new CaptureWriter({ format: 'pcapng', interfaces: [{ linkType: LinkType.LINUX_SLL2, tsresol: 9 }] })
    const file = new PassThrough({ highWaterMark: 1024 })
    const decoded: CaptureEvent[] = []
    const sink = new Writable({ objectMode: true, write(event: CaptureEvent, _e, callback) { decoded.push(event); callback() } })
    const done = pipeline(file, createCaptureStream(), sink)
    await writeCapture(file, generate(writer, 5, 100_000))
    file.end()
    await done
    expect(ofType(decoded, 'tcp-open').length).toBe(5)
    expect(ofType(decoded, 'tcp-close').map((e) => [e.reason, e.clientBytes, e.serverBytes])).toEqual(
      Array.from({ length: 5 }, () => ['fin', 100_000, 50_000]))
    for (let i = 0; i < 5; i++) {
      expect(streamOf(decoded, 'client', i + 1).equals(Buffer.alloc(100_000, i))).toBe(true)
      expect(streamOf(decoded, 'server', i + 1).equals(Buffer.alloc(50_000, 255 - i))).toBe(true)
    }
    // The same events as decoding the whole file at once.
    const whole = decodeCapture(Buffer.concat([...generate(writer, 5, 100_000)]))
    expect(comparable(decoded)).toEqual(comparable(whole))
  })

  it('a malformed file through the stream is one fatal error event, not a stream error', async () => {
    const events: CaptureEvent[] = []
    await pipeline(Readable.from([Buffer.from('definitely not pcap')]), createCaptureStream(),
      new Writable({ objectMode: true, write(event: CaptureEvent, _e, callback) { events.push(event); callback() } }))
    expect(events.map((e) => e.type === 'error' && [e.code, e.fatal, e.error.offset])).toEqual([['BAD_CAPTURE', true, 0]])
  })
})
