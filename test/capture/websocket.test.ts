import zlib from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { decodeCapture } from '../../src/lib/capture/decoder.js'
import { LinkType, type CaptureEvent } from '../../src/lib/capture/types.js'
import { parseDeflateExtension, WsOpcode } from '../../src/lib/capture/websocket.js'
import { buildCapture, TcpConversation } from '../helpers/pcap-writer.js'
import { MASK, decodeBoth, ofType, streamOf, upgradeRequest, upgradeResponse, wsFrame } from './helpers.js'

const URL_PATH = '/stmp?stmp_version=3&stmp_server_latency=1'

interface Step {
  from: 'client' | 'server'
  bytes: Buffer
}

/** One TCP connection carrying the steps; each step's bytes are cut into `segmentSize` segments. */
function wsCapture(steps: Step[], segmentSize = 1460, v6 = false): Buffer {
  const conv = new TcpConversation({
    client: { ip: v6 ? '::1' : '127.0.0.1', port: 50123 }, server: { ip: v6 ? '::1' : '127.0.0.1', port: 8080 },
  })
  const packets = [...conv.handshake(), ...steps.flatMap((s) => conv.send(s.from, s.bytes, segmentSize)), ...conv.close()]
  return buildCapture({ format: 'pcapng', interfaces: [{ linkType: LinkType.NULL, tsresol: 9 }] }, packets)
}

const client = (bytes: Buffer): Step => ({ from: 'client', bytes })
const server = (bytes: Buffer): Step => ({ from: 'server', bytes })

/** A whole compressed message as permessage-deflate sends it: raw deflate, sync flush, tail stripped. */
function deflateMessage(payload: Buffer): Buffer {
  const out = zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH })
  expect(out.subarray(-4).toString('hex')).toBe('0000ffff')
  return out.subarray(0, -4)
}

/** Compresses messages with one deflate context across them (context takeover). */
async function deflateWithTakeover(messages: Buffer[]): Promise<Buffer[]> {
  const deflate = zlib.createDeflateRaw()
  const out: Buffer[] = []
  for (const message of messages) {
    const chunks: Buffer[] = []
    const onData = (chunk: Buffer) => chunks.push(chunk)
    deflate.on('data', onData)
    deflate.write(message)
    await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()))
    deflate.off('data', onData)
    const joined = Buffer.concat(chunks)
    expect(joined.subarray(-4).toString('hex')).toBe('0000ffff')
    out.push(joined.subarray(0, -4))
  }
  deflate.close()
  return out
}

function messages(events: CaptureEvent[]) {
  return ofType(events, 'ws-message').map((e) => [e.direction, e.opcode, e.payload.toString(), e.compressed])
}

describe('HTTP upgrade + WebSocket', () => {
  it('decodes the upgrade and masked client / unmasked server messages, in 16- and 64-bit lengths', () => {
    const medium = Buffer.alloc(300, 'm')
    const large = Buffer.alloc(70_000, 'L')
    const file = wsCapture([
      client(upgradeRequest(URL_PATH)), server(upgradeResponse()),
      client(wsFrame({ opcode: WsOpcode.TEXT, payload: Buffer.from('q hello'), mask: MASK })),
      server(wsFrame({ opcode: WsOpcode.BINARY, payload: medium })),
      client(wsFrame({ opcode: WsOpcode.BINARY, payload: large, mask: MASK })),
    ], 1000)
    const events = decodeCapture(file)
    const upgrades = ofType(events, 'http-upgrade')
    expect(upgrades.length).toBe(1)
    expect(upgrades[0]).toMatchObject({
      connId: 1, connection: '127.0.0.1:50123 -> 127.0.0.1:8080', method: 'GET', url: URL_PATH, status: 101,
      statusText: 'Switching Protocols', websocket: true, deflate: null,
    })
    expect(upgrades[0].requestHeaders).toMatchObject({ upgrade: 'websocket', authorization: 'Bearer t0k3n', 'sec-websocket-version': '13' })
    expect(upgrades[0].responseHeaders['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
    const got = ofType(events, 'ws-message')
    expect(got.map((e) => [e.direction, e.opcode, e.payload.length, e.compressed])).toEqual([
      ['client', 'text', 7, false], ['server', 'binary', 300, false], ['client', 'binary', 70_000, false],
    ])
    expect(got[0].payload.toString()).toBe('q hello')
    expect(got[1].payload.equals(medium)).toBe(true)
    expect(got[2].payload.equals(large)).toBe(true)
    // Stream offsets point at the frame headers, just after the HTTP heads.
    expect(got[0].streamOffset).toBe(upgradeRequest(URL_PATH).length)
    expect(got[1].streamOffset).toBe(upgradeResponse().length)
    expect(got[2].streamOffset).toBe(upgradeRequest(URL_PATH).length + 2 + 4 + 7)
    // A WebSocket connection shows messages, not raw data.
    expect(ofType(events, 'data')).toEqual([])
    expect(ofType(events, 'error')).toEqual([])
  })

  it('joins a fragmented message around a ping, and reads a close frame with code and reason', () => {
    const closePayload = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye now')])
    const file = wsCapture([
      client(upgradeRequest('/')), server(upgradeResponse()),
      client(Buffer.concat([
        wsFrame({ opcode: WsOpcode.TEXT, fin: false, payload: Buffer.from('part one, '), mask: MASK }),
        wsFrame({ opcode: WsOpcode.PING, payload: Buffer.from('are you there'), mask: MASK }),
        wsFrame({ opcode: WsOpcode.CONTINUATION, fin: false, payload: Buffer.from('part two, '), mask: MASK }),
        wsFrame({ opcode: WsOpcode.CONTINUATION, payload: Buffer.from('part three'), mask: MASK }),
      ])),
      server(wsFrame({ opcode: WsOpcode.PONG, payload: Buffer.from('are you there') })),
      server(wsFrame({ opcode: WsOpcode.CLOSE, payload: closePayload })),
      client(wsFrame({ opcode: WsOpcode.CLOSE, payload: Buffer.alloc(0), mask: MASK })),
    ], 7)
    const events = decodeBoth(file)
    const controls = ofType(events, 'ws-control')
    expect(controls.map((e) => [e.direction, e.opcode, e.payload.toString(), e.code, e.reason])).toEqual([
      ['client', 'ping', 'are you there', undefined, undefined],
      ['server', 'pong', 'are you there', undefined, undefined],
      ['server', 'close', closePayload.toString(), 1000, 'bye now'],
      ['client', 'close', '', undefined, undefined],
    ])
    const got = ofType(events, 'ws-message')
    expect(got.map((e) => [e.opcode, e.payload.toString(), e.frames])).toEqual([['text', 'part one, part two, part three', 3]])
    // The ping, in the middle of the message, comes out before the message.
    expect(events.findIndex((e) => e.type === 'ws-control')).toBeLessThan(events.findIndex((e) => e.type === 'ws-message'))
  })

  it('inflates permessage-deflate without context takeover, message by message', () => {
    const extensions = 'permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits=10'
    const a = Buffer.from('{"action":"echo","payload":"hello hello hello hello"}')
    const b = Buffer.from('{"action":"echo","payload":"hello hello hello hello"}')
    const file = wsCapture([
      client(upgradeRequest('/', 'permessage-deflate; client_max_window_bits')), server(upgradeResponse(extensions)),
      client(wsFrame({ opcode: WsOpcode.TEXT, rsv1: true, payload: deflateMessage(a), mask: MASK })),
      client(wsFrame({ opcode: WsOpcode.TEXT, rsv1: true, payload: deflateMessage(b), mask: MASK })),
      server(wsFrame({ opcode: WsOpcode.BINARY, payload: Buffer.from('plain, not compressed') })),
      server(wsFrame({ opcode: WsOpcode.BINARY, rsv1: true, payload: deflateMessage(a) })),
    ])
    const events = decodeBoth(file)
    expect(ofType(events, 'http-upgrade')[0].deflate).toEqual({ clientNoContextTakeover: true, serverNoContextTakeover: true, clientMaxWindowBits: 10 })
    expect(messages(events)).toEqual([
      ['client', 'text', a.toString(), true], ['client', 'text', b.toString(), true],
      ['server', 'binary', 'plain, not compressed', false], ['server', 'binary', a.toString(), true],
    ])
  })

  it('inflates permessage-deflate with context takeover, where later messages refer into earlier ones', async () => {
    const texts = ['{"action":"ticker.subscribe","payload":{"symbols":["AAPL","MSFT"]}}',
      '{"action":"ticker.subscribe","payload":{"symbols":["AAPL","MSFT","GOOG"]}}',
      '{"action":"ticker.subscribe","payload":{"symbols":["MSFT","GOOG"]}}'].map((t) => Buffer.from(t))
    const compressed = await deflateWithTakeover(texts)
    // The second message really depends on the first: alone, it does not inflate to itself.
    let alone: string | undefined
    try { alone = zlib.inflateRawSync(Buffer.concat([compressed[1], Buffer.from('0000ffff', 'hex')]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString() } catch { alone = undefined }
    expect(alone).not.toBe(texts[1].toString())
    expect(compressed[1].length).toBeLessThan(deflateMessage(texts[1]).length)
    const file = wsCapture([
      client(upgradeRequest('/')), server(upgradeResponse('permessage-deflate')),
      ...compressed.map((payload) => server(wsFrame({ opcode: WsOpcode.TEXT, rsv1: true, payload }))),
    ], 9)
    const events = decodeBoth(file)
    expect(ofType(events, 'http-upgrade')[0].deflate).toEqual({ clientNoContextTakeover: false, serverNoContextTakeover: false })
    expect(ofType(events, 'error')).toEqual([])
    expect(messages(events)).toEqual(texts.map((t) => ['server', 'text', t.toString(), true]))
  })

  it('a message over maxMessageBytes is skipped with WS_TOO_LARGE, and the next one still decodes', () => {
    const file = wsCapture([
      client(upgradeRequest('/')), server(upgradeResponse()),
      client(wsFrame({ opcode: WsOpcode.BINARY, fin: false, payload: Buffer.alloc(600, 1), mask: MASK })),
      client(wsFrame({ opcode: WsOpcode.CONTINUATION, payload: Buffer.alloc(600, 2), mask: MASK })),
      client(wsFrame({ opcode: WsOpcode.TEXT, payload: Buffer.from('small'), mask: MASK })),
      server(wsFrame({ opcode: WsOpcode.BINARY, payload: Buffer.alloc(2000, 3) })),
      server(wsFrame({ opcode: WsOpcode.TEXT, payload: Buffer.from('fine') })),
    ])
    const events = decodeBoth(file, { maxMessageBytes: 1000 })
    expect(ofType(events, 'error').map((e) => [e.code, e.direction, e.fatal])).toEqual([['WS_TOO_LARGE', 'client', false], ['WS_TOO_LARGE', 'server', false]])
    expect(messages(events)).toEqual([['client', 'text', 'small', false], ['server', 'text', 'fine', false]])
  })

  it('an inflated message over maxMessageBytes is WS_TOO_LARGE too (a deflate bomb)', () => {
    const file = wsCapture([
      client(upgradeRequest('/')), server(upgradeResponse('permessage-deflate; server_no_context_takeover')),
      server(wsFrame({ opcode: WsOpcode.BINARY, rsv1: true, payload: deflateMessage(Buffer.alloc(100_000)) })),
      server(wsFrame({ opcode: WsOpcode.TEXT, rsv1: true, payload: deflateMessage(Buffer.from('after')) })),
    ])
    const events = decodeCapture(file, { maxMessageBytes: 10_000 })
    expect(ofType(events, 'error').map((e) => e.code)).toEqual(['WS_TOO_LARGE'])
    expect(messages(events)).toEqual([['server', 'text', 'after', true]])
  })

  it('a framing error stops that direction with WS_PROTOCOL; the other goes on', () => {
    const file = wsCapture([
      client(upgradeRequest('/')), server(upgradeResponse()),
      client(wsFrame({ opcode: WsOpcode.CONTINUATION, payload: Buffer.from('nothing to continue'), mask: MASK })),
      client(wsFrame({ opcode: WsOpcode.TEXT, payload: Buffer.from('lost'), mask: MASK })),
      server(wsFrame({ opcode: WsOpcode.TEXT, payload: Buffer.from('kept') })),
    ])
    const events = decodeBoth(file)
    expect(ofType(events, 'error').map((e) => [e.code, e.direction])).toEqual([['WS_PROTOCOL', 'client']])
    expect(messages(events)).toEqual([['server', 'text', 'kept', false]])
  })

  it('a refused upgrade: the status, then the body as raw data', () => {
    const body = Buffer.from('missing credentials')
    const head = Buffer.concat([upgradeResponse(undefined, '401 Unauthorized').subarray(0, -2), Buffer.from(`Content-Length: ${body.length}\r\n\r\n`)])
    const file = wsCapture([client(upgradeRequest('/private')), server(Buffer.concat([head, body]))], 1460, true)
    const events = decodeBoth(file)
    const upgrade = ofType(events, 'http-upgrade')
    expect(upgrade.map((e) => [e.connection, e.url, e.status, e.statusText, e.websocket, e.deflate])).toEqual([
      ['[::1]:50123 -> [::1]:8080', '/private', 401, 'Unauthorized', false, null],
    ])
    const data = ofType(events, 'data')
    expect(data.map((e) => [e.direction, e.bytes.toString()])).toEqual([['server', body.toString()]])
    expect(data[0].streamOffset).toBe(head.length)
  })

  it('a connection that does not start with GET is raw data from offset 0', () => {
    const stmpHandshake = Buffer.from('102f3f73746d705f76657273696f6e3d33', 'hex')
    const file = wsCapture([client(stmpHandshake), server(Buffer.from('0400c84f4b', 'hex'))], 3)
    const events = decodeBoth(file)
    expect(ofType(events, 'http-upgrade')).toEqual([])
    expect(streamOf(events, 'client').equals(stmpHandshake)).toBe(true)
    expect(streamOf(events, 'server').toString('hex')).toBe('0400c84f4b')
  })

  it('a client that starts "GE" and then something else is raw', () => {
    const file = wsCapture([client(Buffer.from('GE')), client(Buffer.from('T?')), server(Buffer.from('ok'))], 1)
    const events = decodeBoth(file)
    expect(ofType(events, 'http-upgrade')).toEqual([])
    expect(streamOf(events, 'client').toString()).toBe('GET?')
  })

  /** A connection whose client sends `frames` in `segmentSize` segments after the upgrade, less the segments `drop` picks (by client stream offset). */
  function gapCapture(frames: Buffer[], segmentSize: number, drop: (at: number) => boolean, extensions?: string) {
    const conv = new TcpConversation({ client: { ip: '127.0.0.1', port: 50123 }, server: { ip: '127.0.0.1', port: 8080 } })
    const hs = conv.handshake()
    const base = upgradeRequest('/').length
    const req = conv.send('client', upgradeRequest('/'))
    const res = conv.send('server', upgradeResponse(extensions))
    const sent = conv.send('client', Buffer.concat(frames), segmentSize)
    const kept = sent.filter((p) => !drop(((p.seq - 1001) >>> 0) - base))
    expect(kept.length).toBeLessThan(sent.length)
    const events = decodeCapture(buildCapture({ format: 'pcap', linkType: LinkType.RAW }, [...hs, ...req, ...res, ...kept, ...conv.close()]))
    const undecodable = ofType(events, 'ws-undecodable').map((e) => ({ from: e.streamOffset - base, bytes: e.bytes, lost: e.lost }))
    return { events, base, undecodable, texts: ofType(events, 'ws-message').map((e) => e.payload.toString()) }
  }
  const text = (t: string, fin = true, opcode: number = WsOpcode.TEXT) => wsFrame({ opcode, fin, payload: Buffer.from(t), mask: MASK })

  it('a TCP gap inside a frame\'s payload: that message is lost, the next ones decode', () => {
    // Frames of 15 bytes (2 + 4 mask + 9); 5-byte segments: the third holds the last 5 payload bytes of message 1.
    const frames = [1, 2, 3].map((i) => text(`message ${i}`))
    const { events, undecodable, texts } = gapCapture(frames, 5, (at) => at === 10)
    expect(ofType(events, 'gap').map((e) => [e.direction, e.missing])).toEqual([['client', 5]])
    expect(undecodable).toEqual([{ from: 0, bytes: 15, lost: 'frame' }])
    expect(texts).toEqual(['message 2', 'message 3'])
    expect(ofType(events, 'error')).toEqual([])
  })

  it('a TCP gap across a frame boundary or inside a header: the rest of that direction is undecodable, reported at the end', () => {
    const frames = [1, 2, 3].map((i) => text(`message ${i}`))
    // 10-byte segments: the second runs from message 1's payload into message 2's header.
    for (const [size, at] of [[10, 10], [5, 15], [3, 3]]) {
      const { events, undecodable, texts } = gapCapture(frames, size, (a) => a === at)
      expect(texts).toEqual(at === 15 ? ['message 1'] : [])
      expect(undecodable).toEqual([{ from: at === 15 ? 15 : 0, bytes: at === 15 ? 30 : 45, lost: undefined }])
      expect(ofType(events, 'error')).toEqual([])
    }
  })

  it('a TCP gap inside a fragment: the whole message is lost, reported from its first frame to its last; the next decodes', () => {
    // message A in three frames of 2 + 4 + 10 = 16 bytes each; the gap falls in the middle one's payload.
    const frames = [text('A-part-one', false), text('A-part-two', false, WsOpcode.CONTINUATION), text('A-part-end', true, WsOpcode.CONTINUATION), text('message B')]
    const { undecodable, texts } = gapCapture(frames, 4, (at) => at === 24)
    expect(undecodable).toEqual([{ from: 0, bytes: 48, lost: 'frame' }])
    expect(texts).toEqual(['message B'])
  })

  it('a TCP gap inside a control frame loses that frame only', () => {
    const frames = [wsFrame({ opcode: WsOpcode.PING, payload: Buffer.from('0123456789'), mask: MASK }), text('message 1')]
    const { events, undecodable, texts } = gapCapture(frames, 4, (at) => at === 8)
    expect(undecodable).toEqual([{ from: 0, bytes: 16, lost: 'frame' }])
    expect(ofType(events, 'ws-control')).toEqual([])
    expect(texts).toEqual(['message 1'])
  })

  it('a TCP gap in a message compressed with context takeover: later messages refer into it, so the rest is undecodable', () => {
    const frames = [1, 2].map((i) => wsFrame({ opcode: WsOpcode.TEXT, rsv1: true, payload: deflateMessage(Buffer.from(`message ${i} message ${i}`)), mask: MASK }))
    const withTakeover = gapCapture(frames, 4, (at) => at === 8, 'permessage-deflate')
    expect(withTakeover.undecodable).toEqual([{ from: 0, bytes: frames[0].length + frames[1].length, lost: undefined }])
    expect(withTakeover.texts).toEqual([])
    // Without the client's context takeover every message stands alone: the second one decodes.
    const without = gapCapture(frames, 4, (at) => at === 8, 'permessage-deflate; client_no_context_takeover')
    expect(without.undecodable).toEqual([{ from: 0, bytes: frames[0].length, lost: 'frame' }])
    expect(without.texts).toEqual(['message 2 message 2'])
  })

  it('parses Sec-WebSocket-Extensions parameters', () => {
    expect(parseDeflateExtension('x-webkit-deflate-frame, permessage-deflate; server_max_window_bits="12"; client_no_context_takeover')).toEqual({
      clientNoContextTakeover: true, serverNoContextTakeover: false, serverMaxWindowBits: 12,
    })
    expect(parseDeflateExtension('x-custom')).toBeNull()
    expect(parseDeflateExtension(undefined)).toBeNull()
  })
})

describe('HTTP limits', () => {
  it('a request head longer than maxHttpHeaderBytes is HTTP_TOO_LARGE, and the connection is shown raw', () => {
    const head = Buffer.from(`GET /${'a'.repeat(3000)} HTTP/1.1\r\nUpgrade: websocket\r\n\r\n`)
    const file = wsCapture([client(head), server(upgradeResponse())])
    const events = decodeBoth(file, { maxHttpHeaderBytes: 1024 })
    expect(ofType(events, 'error').map((e) => [e.code, e.direction])).toEqual([['HTTP_TOO_LARGE', 'client']])
    expect(ofType(events, 'http-upgrade')).toEqual([])
    expect(streamOf(events, 'client').equals(head)).toBe(true)
    expect(streamOf(events, 'server').equals(upgradeResponse())).toBe(true)
  })

  it('a request with no answer before the end is reported with status 0', () => {
    const file = wsCapture([client(upgradeRequest('/waiting'))])
    const events = decodeBoth(file)
    expect(ofType(events, 'http-upgrade').map((e) => [e.url, e.status, e.websocket])).toEqual([['/waiting', 0, false]])
  })
})

describe('plain HTTP', () => {
  it('a GET that is not a WebSocket upgrade is raw data from offset 0, with no http-upgrade event', () => {
    const request = Buffer.from('GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n')
    const response = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi')
    const events = decodeBoth(wsCapture([client(request), server(response)], 5))
    expect(ofType(events, 'http-upgrade')).toEqual([])
    expect(streamOf(events, 'client').equals(request)).toBe(true)
    expect(streamOf(events, 'server').equals(response)).toBe(true)
  })
})
