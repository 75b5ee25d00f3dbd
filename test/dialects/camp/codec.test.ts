import { describe, expect, it } from 'vitest'
import { fieldsOf } from '../../../src/lib/dialects/camp/capture.js'
import { capture } from '../../../src/lib/dialects/camp/capture.js'
import {
  type Frame, campCloseCode, decodeFrame, encodeFrame, needsAck, parseSid, stmpCloseCode,
} from '../../../src/lib/dialects/camp/codec.js'
import { decideCampUpgrade, campUpgrade } from '../../../src/lib/dialects/camp/index.js'
import { chunkOffset } from '../../../src/lib/dialects/camp/wire.js'
import { StmpError } from '../../../src/lib/errors.js'
import { codeOf } from '../../helpers/errors.js'
import { loggedFrames } from './transcript.js'

const SID = 0x0102030405060708n

/** The codec on every frame the real CAMP server and client exchanged (fixtures/camp.log). */
describe('camp codec on the real transcript', () => {
  const frames = loggedFrames().filter((f) => f.opcode === 'binary')

  it('every frame of camp.log decodes to what the wire notes say, in order', () => {
    const decoded = frames.map((f) => ({ from: f.from, ...decodeFrame(f.bytes) }))
    expect(decoded).toEqual([
      { from: 'server', kind: 'endpoint-info', sid: SID, ack: 0, version: 1, flags: 1n },
      { from: 'client', kind: 'ack', sid: SID, acked: 0 },
      { from: 'client', kind: 'endpoint-info', sid: SID, ack: 0, version: 1, flags: 1n },
      { from: 'server', kind: 'ack', sid: SID, acked: 0 },
      { from: 'server', kind: 'utf8', sid: SID, ack: 1, payload: Buffer.from('hi from server') },
      { from: 'client', kind: 'utf8', sid: SID, ack: 1, payload: Buffer.from('hello camp') },
      { from: 'client', kind: 'ack', sid: SID, acked: 1 },
      { from: 'server', kind: 'ack', sid: SID, acked: 1 },
      { from: 'server', kind: 'binary', sid: SID, ack: 2, payload: Buffer.from([1, 2, 3]) },
      { from: 'server', kind: 'tx-start', sid: SID, ack: 3, txId: 0, size: -1n, behaviour: 0, name: 'blob' },
      { from: 'client', kind: 'ack', sid: SID, acked: 2 },
      { from: 'client', kind: 'ack', sid: SID, acked: 3 },
      { from: 'server', kind: 'tx-chunk', sid: SID, txId: 0, offset: 0n, payload: Buffer.from('abc') },
      { from: 'server', kind: 'tx-chunk', sid: SID, txId: 0, offset: 4n, payload: Buffer.from('de') },
      { from: 'server', kind: 'tx-finish', sid: SID, ack: 4, txId: 0 },
      { from: 'client', kind: 'ack', sid: SID, acked: 4 },
      { from: 'server', kind: 'ping', sid: SID },
      { from: 'client', kind: 'pong', sid: SID },
      { from: 'server', kind: 'ping', sid: SID },
      { from: 'client', kind: 'pong', sid: SID },
      { from: 'client', kind: 'bye', sid: SID, ack: 2, reason: 'done' },
      { from: 'server', kind: 'ack', sid: SID, acked: 2 },
    ])
  })

  it('every frame encodes back to the very bytes the real programs sent', () => {
    expect(frames).toHaveLength(22)
    for (const f of frames) expect(encodeFrame(decodeFrame(f.bytes)).toString('hex')).toBe(f.bytes.toString('hex'))
  })

  it('each side acknowledged exactly the frames that need it, with the ack they carried', () => {
    // Each side's ack counter runs on its own: the server's 0..4, the client's 0..2.
    for (const side of ['client', 'server'] as const) {
      const other = side === 'client' ? 'server' : 'client'
      const sent = frames.filter((f) => f.from === side).map((f) => decodeFrame(f.bytes)).filter((f) => needsAck(f.kind)).map((f) => (f as { ack: number }).ack)
      const acked = frames.filter((f) => f.from === other).map((f) => decodeFrame(f.bytes)).filter((f) => f.kind === 'ack').map((f) => (f as { acked: number }).acked)
      expect(acked).toEqual(sent)
    }
  })

  it('the close frames are WebSocket close 4000 "done" both ways, which is stmpcat 1000', () => {
    const closes = loggedFrames().filter((f) => f.opcode === 'close')
    expect(closes.map((c) => [c.from, c.bytes.readUInt16BE(0), c.bytes.subarray(2).toString()])).toEqual([['server', 4000, 'done'], ['client', 4000, 'done']])
    expect(stmpCloseCode(4000)).toBe(1000)
  })

  it('decode fields: the second chunk of the push transaction is at CAMP-Server\'s off-by-one offset 4 (3 expected), flagged', () => {
    const txs = new Map<number, { bytes: number; chunks: number }>()
    const shown = frames.filter((f) => f.from === 'server').map((f) => fieldsOf(decodeFrame(f.bytes), txs)).filter((f) => f.kind.startsWith('tx-'))
    expect(shown).toEqual([
      { kind: 'tx-start', sid: '0102030405060708', ack: 3, txId: 0, size: -1, behaviour: 'push', name: 'blob' },
      { kind: 'tx-chunk', sid: '0102030405060708', txId: 0, offset: 0, payload: Buffer.from('abc') },
      { kind: 'tx-chunk', sid: '0102030405060708', txId: 0, offset: 4, payload: Buffer.from('de'), quirk: 'off-by-one', expected: 3 },
      { kind: 'tx-finish', sid: '0102030405060708', ack: 4, txId: 0, bytes: 5, chunks: 2 },
    ])
    expect(chunkOffset(7n, 5, 2)).toBe('off-by-one')
    expect(chunkOffset(5n, 5, 2)).toBe('exact')
    expect(chunkOffset(9n, 5, 2)).toBe('misplaced')
  })

  it('sniff: sure from the upgrade (subprotocol camp or x-CAMP-sid) and from the server\'s ENDPOINT_INFO; not for stream bytes or Stocking', () => {
    const first = frames[0].bytes
    expect(capture.sniff({ framing: 'websocket', upgrade: { url: '/?authorization=Bearer%20tok&x-CAMP-sid=72623859790382856', headers: {} } })).toBe(2)
    expect(capture.sniff({ framing: 'websocket', upgrade: { url: '/', headers: { 'sec-websocket-protocol': 'camp' } } })).toBe(2)
    expect(capture.sniff({ framing: 'websocket', server: first })).toBe(2)
    expect(capture.sniff({ framing: 'websocket', client: frames[1].bytes })).toBe(1)
    expect(capture.sniff({ framing: 'websocket', server: Buffer.from('0'), client: Buffer.from('3,,') })).toBe(0)
    expect(capture.sniff({ framing: 'stream', server: first })).toBe(0)
  })
})

describe('camp codec: every frame type, and bad bytes as coded errors', () => {
  const all: Frame[] = [
    { kind: 'endpoint-info', sid: 7n, ack: 0xffffffff, version: 1, flags: 0xffffffffffffffffn },
    { kind: 'bye', sid: 7n, ack: 1, reason: 'héllo' },
    { kind: 'ack', sid: 7n, acked: 9 },
    { kind: 'error', sid: 7n, ack: 2, message: 'boom ü' },
    { kind: 'ping', sid: 7n },
    { kind: 'pong', sid: 7n },
    { kind: 'utf8', sid: 7n, ack: 3, payload: Buffer.from('{"x":1}') },
    { kind: 'binary', sid: 7n, ack: 4, payload: Buffer.from([0, 255]) },
    { kind: 'tx-start', sid: 7n, ack: 5, txId: 6, size: 123n, behaviour: 1, name: 'file.bin' },
    { kind: 'tx-chunk', sid: 7n, txId: 6, offset: 0xffffffffffn, payload: Buffer.from('x') },
    { kind: 'tx-finish', sid: 7n, ack: 7, txId: 6 },
    { kind: 'tx-fetch', sid: 7n, ack: 8, txId: 6, start: 10n, end: 20n },
    { kind: 'tx-cancel', sid: 7n, ack: 9, txId: 6 },
  ]

  it('round-trips every type', () => {
    for (const f of all) expect(decodeFrame(encodeFrame(f))).toEqual(f)
    // Non-ASCII text by its bytes (CAMP-Server sizes ERROR and BYE by string.length and cuts it).
    expect(encodeFrame(all[1]).length).toBe(9 + 4 + Buffer.byteLength('héllo'))
  })

  it('short, unknown, oversized, trailing and non-UTF-8 frames are coded errors at their byte', () => {
    expect(codeOf(() => decodeFrame(Buffer.alloc(8)))).toBe('SHORT_FRAME')
    const unknown = Buffer.concat([Buffer.alloc(8), Buffer.from([0x42, 0, 0, 0, 0])])
    const e = (() => { try { decodeFrame(unknown, 100) } catch (err) { return err as StmpError } })()
    expect(e).toMatchObject({ code: 'BAD_KIND', offset: 108, closeCode: 1002 })
    expect(codeOf(() => decodeFrame(encodeFrame(all[0]).subarray(0, 20)))).toBe('SHORT_FRAME')
    expect(codeOf(() => decodeFrame(Buffer.concat([encodeFrame(all[2]), Buffer.from([0])])))).toBe('BAD_FRAME')
    expect(codeOf(() => decodeFrame(Buffer.concat([Buffer.alloc(8), Buffer.from([0xfb]), Buffer.from('pang')])))).toBe('BAD_KIND')
    expect(codeOf(() => decodeFrame(encodeFrame({ kind: 'utf8', sid: 1n, ack: 0, payload: Buffer.from([0xff, 0xfe]) })))).toBe('BAD_UTF8')
    expect(codeOf(() => decodeFrame(encodeFrame({ kind: 'binary', sid: 1n, ack: 0, payload: Buffer.alloc(11) }), 0, 10))).toBe('TOO_LARGE')
    const badBehaviour = encodeFrame(all[8])
    badBehaviour[25] = 2
    expect(codeOf(() => decodeFrame(badBehaviour))).toBe('BAD_FRAME')
  })

  it('the decoder throws only coded errors on any bytes (property)', async () => {
    const fc = (await import('fast-check')).default
    await import('../../helpers/fast-check-size.js')
    const types = fc.constantFrom(0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa, 0xf9, 0, 1, 2, 3, 4, 5, 0x80)
    const frame = fc.tuple(fc.uint8Array({ minLength: 8, maxLength: 8 }), types, fc.uint8Array({ maxLength: 40 })).map(([sid, t, rest]) => Buffer.concat([Buffer.from(sid), Buffer.from([t]), Buffer.from(rest)]))
    let decoded = 0
    fc.assert(fc.property(fc.oneof(frame, fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b))), (bytes) => {
      try {
        const f = decodeFrame(bytes)
        decoded++
        // What decodes encodes back to the same bytes.
        expect(encodeFrame(f).equals(bytes)).toBe(true)
        // And decode can show it (no bigint left for JSON).
        JSON.stringify(fieldsOf(f), (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v))
      } catch (err) {
        expect(err).toBeInstanceOf(StmpError)
        expect(typeof (err as StmpError).code).toBe('string')
      }
    }), { numRuns: 3000 })
    expect(decoded).toBeGreaterThan(100)
  })
})

describe('camp upgrade and close codes', () => {
  it('the client puts authorization=Bearer <token> and a decimal x-CAMP-sid in the query, offers subprotocol camp', () => {
    const up = campUpgrade({ token: 'tok', sid: '72623859790382856' }, new URLSearchParams())
    expect(up).toMatchObject({ query: { authorization: 'Bearer tok', 'x-CAMP-sid': '72623859790382856' }, protocols: ['camp'] })
    const random = campUpgrade({}, new URLSearchParams())
    expect(parseSid(random.query?.['x-CAMP-sid'])).toBeTypeOf('bigint')
    // The address's own query wins.
    expect(campUpgrade({}, new URLSearchParams('x-CAMP-sid=5&authorization=Bearer%20x')).query).toEqual({})
    expect(codeOf(() => campUpgrade({ sid: '-1' }, new URLSearchParams()))).toBe('BAD_FLAG')
    expect(codeOf(() => campUpgrade({ sid: '18446744073709551616' }, new URLSearchParams()))).toBe('BAD_FLAG')
    expect(codeOf(() => campUpgrade({ 'ack-timeout': 'soon' }, new URLSearchParams()))).toBe('BAD_FLAG')
  })

  it('the server refuses as CAMP-Server does: 401 without authorization, without Bearer, without a sid, with a wrong token', () => {
    const ok = '/?authorization=Bearer%20tok&x-CAMP-sid=72623859790382856'
    expect(decideCampUpgrade({ url: ok }, { token: 'tok' })).toMatchObject({ status: 200, agreed: { sid: '72623859790382856' } })
    expect(decideCampUpgrade({ url: ok }, {})).toMatchObject({ status: 200 })
    expect(decideCampUpgrade({ url: ok }, { token: 'other' })).toMatchObject({ status: 401, message: expect.stringContaining('invalid bearer token') })
    expect(decideCampUpgrade({ url: '/?x-CAMP-sid=1' }, {}).status).toBe(401)
    expect(decideCampUpgrade({ url: '/?authorization=Basic%20x&x-CAMP-sid=1' }, {}).status).toBe(401)
    expect(decideCampUpgrade({ url: '/?authorization=Bearer%20tok' }, {}).status).toBe(401)
    // The name is case-sensitive in CAMP-Server's code (the README's x-camp-sid is not read).
    expect(decideCampUpgrade({ url: '/?authorization=Bearer%20tok&x-camp-sid=1' }, {}).status).toBe(401)
    expect(decideCampUpgrade({ url: '/?authorization=Bearer%20tok&x-CAMP-sid=abc' }, {}).status).toBe(401)
    expect(decideCampUpgrade({ url: ok }, { shuttingDown: true }).status).toBe(503)
  })

  it('close codes both ways: clean 4000, the peer\'s protocol error is the peer\'s fault (4001 client, 4002 server)', () => {
    expect([1000, 1001, 1002, 1009, 1011, 4002].map((c) => campCloseCode(c, 'server'))).toEqual([4000, 4000, 4001, 4001, 4002, 4002])
    expect([1000, 1002, 1011].map((c) => campCloseCode(c, 'client'))).toEqual([4000, 4002, 4001])
    expect([4000, 4001, 4002, 1006].map(stmpCloseCode)).toEqual([1000, 1002, 1011, 1006])
  })
})
