import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StmpError, ExitCode } from '../../src/lib/errors.js'
import { decodeCapture } from '../../src/lib/capture/decoder.js'
import { CaptureReader, detectCaptureFormat } from '../../src/lib/capture/reader.js'
import { LinkType, type CapturePacket } from '../../src/lib/capture/types.js'
import { CaptureWriter, TcpConversation } from '../helpers/pcap-writer.js'
import { ofType } from './helpers.js'

function readAll(file: Buffer, chunkSize = file.length): CapturePacket[] {
  const packets: CapturePacket[] = []
  const reader = new CaptureReader((p) => packets.push({ ...p, data: Buffer.from(p.data) }))
  for (let at = 0; at < file.length; at += chunkSize) reader.write(file.subarray(at, at + chunkSize))
  reader.end()
  return packets
}

function readError(file: Buffer, chunkSize = file.length): StmpError {
  try {
    readAll(file, Math.max(1, chunkSize))
  } catch (err) {
    expect(err).toBeInstanceOf(StmpError)
    return err as StmpError
  }
  throw new Error('expected BAD_CAPTURE')
}

const FRAME_A = Buffer.from('first frame bytes')
const FRAME_B = Buffer.from('second, longer frame of bytes')
/** 2026-01-01T00:00:01.123456789Z */
const T1 = 1_767_225_601_123_456_789n
const T2 = T1 + 2_000_000_001n

describe('detectCaptureFormat', () => {
  it('knows the four pcap magics, pcapng, and nothing else', () => {
    expect(detectCaptureFormat(Buffer.from('d4c3b2a1', 'hex'))).toBe('pcap')
    expect(detectCaptureFormat(Buffer.from('a1b2c3d4', 'hex'))).toBe('pcap')
    expect(detectCaptureFormat(Buffer.from('4d3cb2a1', 'hex'))).toBe('pcap')
    expect(detectCaptureFormat(Buffer.from('a1b23c4d', 'hex'))).toBe('pcap')
    expect(detectCaptureFormat(Buffer.from('0a0d0d0a', 'hex'))).toBe('pcapng')
    expect(detectCaptureFormat(Buffer.from('GET /', 'latin1'))).toBeNull()
    expect(detectCaptureFormat(Buffer.from('d4c3b2', 'hex'))).toBeNull()
  })
})

describe('pcap', () => {
  for (const bigEndian of [false, true]) {
    for (const nanosecond of [false, true]) {
      it(`reads ${bigEndian ? 'big' : 'little'}-endian ${nanosecond ? 'ns' : 'µs'} files`, () => {
        const writer = new CaptureWriter({ format: 'pcap', bigEndian, nanosecond, linkType: LinkType.RAW })
        const file = Buffer.concat([writer.header(), writer.record(T1, FRAME_A), writer.record(T2, FRAME_B, 0, 1500)])
        expect(file.subarray(0, 4).toString('hex')).toBe(
          bigEndian ? (nanosecond ? 'a1b23c4d' : 'a1b2c3d4') : (nanosecond ? '4d3cb2a1' : 'd4c3b2a1'))
        for (const chunk of [file.length, 1, 7]) {
          const packets = readAll(file, chunk)
          expect(packets.map((p) => p.data.toString())).toEqual([FRAME_A.toString(), FRAME_B.toString()])
          // µs files lose the last three digits.
          expect(packets.map((p) => p.time)).toEqual(nanosecond ? [T1, T2] : [T1 - (T1 % 1000n), T2 - (T2 % 1000n)])
          expect(packets[1].originalLength).toBe(1500)
          expect(packets.every((p) => p.linkType === LinkType.RAW)).toBe(true)
          expect(packets.map((p) => p.fileOffset)).toEqual([24, 24 + 16 + FRAME_A.length])
        }
      })
    }
  }
})

describe('pcapng', () => {
  for (const bigEndian of [false, true]) {
    it(`reads a ${bigEndian ? 'big' : 'little'}-endian section with two interfaces of different if_tsresol and skips unknown blocks`, () => {
      const writer = new CaptureWriter({
        format: 'pcapng', bigEndian,
        interfaces: [{ linkType: LinkType.ETHERNET }, { linkType: LinkType.RAW, tsresol: 9 }, { linkType: LinkType.LINUX_SLL2, tsresol: 0x80 | 30 }],
      })
      const file = Buffer.concat([
        writer.header(),
        writer.record(T1, FRAME_A, 0),
        writer.block(0x00000bad, Buffer.from('an unknown block, to skip')),
        writer.block(0x00000005, Buffer.alloc(20)), // Interface Statistics Block: skipped
        writer.record(T2, FRAME_B, 1),
        writer.record(T2, FRAME_A, 2),
        writer.simplePacket(FRAME_B),
      ])
      const packets = readAll(file, 5)
      expect(packets.map((p) => [p.interfaceId, p.linkType, p.data.toString()])).toEqual([
        [0, LinkType.ETHERNET, FRAME_A.toString()],
        [1, LinkType.RAW, FRAME_B.toString()],
        [2, LinkType.LINUX_SLL2, FRAME_A.toString()],
        [0, LinkType.ETHERNET, FRAME_B.toString()],
      ])
      expect(packets[0].time).toBe(T1 - 789n) // default if_tsresol 6
      expect(packets[1].time).toBe(T2) // if_tsresol 9
      // 2^-30 s units: within one unit (< 1 ns) below the true time.
      expect(T2 - packets[2].time >= 0n && T2 - packets[2].time <= 1n).toBe(true)
      // A Simple Packet Block has no timestamp: it takes the previous packet's.
      expect(packets[3].time).toBe(packets[2].time)
    })
  }

  it('starts a new section with its own byte order and interfaces', () => {
    const le = new CaptureWriter({ format: 'pcapng', interfaces: [{ linkType: LinkType.RAW }] })
    const be = new CaptureWriter({ format: 'pcapng', bigEndian: true, interfaces: [{ linkType: LinkType.ETHERNET, tsresol: 9 }] })
    const file = Buffer.concat([le.header(), le.record(T1, FRAME_A), be.header(), be.record(T2, FRAME_B)])
    const packets = readAll(file, 3)
    expect(packets.map((p) => [p.linkType, p.time, p.data.toString()])).toEqual([
      [LinkType.RAW, T1 - 789n, FRAME_A.toString()], [LinkType.ETHERNET, T2, FRAME_B.toString()],
    ])
  })
})

describe('BAD_CAPTURE', () => {
  const pcap = new CaptureWriter({ format: 'pcap', linkType: LinkType.RAW })
  const pcapFile = Buffer.concat([pcap.header(), pcap.record(T1, FRAME_A), pcap.record(T2, FRAME_B)])
  const ng = new CaptureWriter({ format: 'pcapng', interfaces: [{ linkType: LinkType.RAW }] })
  const ngFile = Buffer.concat([ng.header(), ng.record(T1, FRAME_A), ng.record(T2, FRAME_B)])

  it('is a usage error (exit 2)', () => {
    expect(readError(Buffer.alloc(0)).exitCode).toBe(ExitCode.USAGE)
  })

  it('an empty file, at byte 0', () => {
    const err = readError(Buffer.alloc(0))
    expect([err.code, err.offset]).toEqual(['BAD_CAPTURE', 0])
  })

  it('garbage, at byte 0, fed whole or byte by byte', () => {
    for (const chunk of [0, 1]) {
      const err = readError(Buffer.from('this is not a capture file at all'), chunk)
      expect([err.code, err.offset]).toEqual(['BAD_CAPTURE', 0])
    }
  })

  it('a pcap file truncated inside a record, at the record start', () => {
    const second = 24 + 16 + FRAME_A.length
    for (const cut of [second + 3, second + 16 + 2, pcapFile.length - 1]) {
      const err = readError(pcapFile.subarray(0, cut), 1)
      expect([err.code, err.offset]).toEqual(['BAD_CAPTURE', second])
    }
    const header = readError(pcapFile.subarray(0, 10))
    expect(header.code).toBe('BAD_CAPTURE')
  })

  it('a pcap record longer than maxPacketBytes, at the record', () => {
    const big = Buffer.concat([pcap.header(), pcap.record(T1, Buffer.alloc(5000))])
    const packets: CapturePacket[] = []
    const reader = new CaptureReader((p) => packets.push(p), { maxPacketBytes: 4096 })
    let error: unknown
    try { reader.write(big) } catch (err) { error = err }
    expect((error as StmpError).code).toBe('BAD_CAPTURE')
    expect((error as StmpError).offset).toBe(24)
    expect(() => reader.end()).toThrow(StmpError)
  })

  it('a pcap file with another version_major', () => {
    const bad = Buffer.from(pcapFile)
    bad.writeUInt16LE(3, 4)
    expect([readError(bad).code, readError(bad).offset]).toEqual(['BAD_CAPTURE', 4])
  })

  it('a pcapng block whose Block Total Length is not a multiple of 4', () => {
    const bad = Buffer.from(ngFile)
    const epb = ng.header().length
    bad.writeUInt32LE(33, epb + 4)
    expect([readError(bad).code, readError(bad).offset]).toEqual(['BAD_CAPTURE', epb + 4])
  })

  it('a pcapng block whose trailing length differs', () => {
    const bad = Buffer.from(ngFile)
    const epb = ng.header().length
    const total = bad.readUInt32LE(epb + 4)
    bad.writeUInt32LE(total + 4, epb + total - 4)
    expect([readError(bad).code, readError(bad).offset]).toEqual(['BAD_CAPTURE', epb + total - 4])
  })

  it('a pcapng packet for an interface that was not described', () => {
    const bad = Buffer.concat([ng.header(), ng.record(T1, FRAME_A, 3)])
    expect([readError(bad).code, readError(bad).offset]).toEqual(['BAD_CAPTURE', ng.header().length + 8])
  })

  it('a pcapng file truncated inside a block', () => {
    const err = readError(ngFile.subarray(0, ngFile.length - 2), 1)
    const lastBlock = ngFile.length - ng.record(T2, FRAME_B).length
    expect([err.code, err.offset]).toEqual(['BAD_CAPTURE', lastBlock])
  })

  it('the decoder reports it as a fatal error event and still closes its connections', () => {
    const conv = new TcpConversation({ client: { ip: '10.0.0.1', port: 5000 }, server: { ip: '10.0.0.2', port: 80 } })
    const writer = new CaptureWriter({ format: 'pcap', linkType: LinkType.RAW })
    const packets = [...conv.handshake(), ...conv.send('client', Buffer.from('abc'))]
    const file = Buffer.concat([writer.header(), ...packets.map((p) => writer.packet(p.time, p.ip))])
    const events = decodeCapture(file.subarray(0, file.length - 5))
    const errors = ofType(events, 'error')
    expect(errors.map((e) => [e.code, e.fatal])).toEqual([['BAD_CAPTURE', true]])
    expect(errors[0].error.offset).toBe(file.length - writer.packet(packets[3].time, packets[3].ip).length)
    expect(ofType(events, 'tcp-close').map((e) => e.reason)).toEqual(['end'])
  })

  it('random bytes and mutated files never raise anything but BAD_CAPTURE', () => {
    const conv = new TcpConversation({ client: { ip: '10.0.0.1', port: 5000 }, server: { ip: '10.0.0.2', port: 80 } })
    const packets = [...conv.handshake(), ...conv.send('client', Buffer.from('GET / HTTP/1.1\r\n\r\n')), ...conv.close()]
    const seeds = [
      Buffer.concat([pcap.header(), ...packets.map((p) => pcap.packet(p.time, p.ip))]),
      Buffer.concat([ng.header(), ...packets.map((p) => ng.packet(p.time, p.ip))]),
    ]
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(), fc.integer({ min: 1, max: 64 }),
      (which, flips, cut, chunk) => {
        const file = Buffer.from(seeds[which])
        for (const [at, value] of flips) file[at % file.length] = value
        const input = file.subarray(0, cut % (file.length + 1))
        try {
          readAll(input, chunk)
        } catch (err) {
          expect(err).toBeInstanceOf(StmpError)
          expect((err as StmpError).code).toBe('BAD_CAPTURE')
          expect(typeof (err as StmpError).offset).toBe('number')
        }
        const events = decodeCapture(input)
        expect(ofType(events, 'error').filter((e) => e.fatal).every((e) => e.code === 'BAD_CAPTURE')).toBe(true)
      },
    ), { numRuns: 300 })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const events = decodeCapture(Buffer.from(bytes))
      expect(ofType(events, 'error').map((e) => e.code)).toEqual(['BAD_CAPTURE'])
    }), { numRuns: 200 })
  })
})
