import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { CaptureDecoder, decodeCapture } from '../../src/lib/capture/decoder.js'
import { CaptureStmpDecoder } from '../../src/lib/capture/stmp.js'
import { captureLine } from '../../src/lib/render/capture-ndjson.js'
import { decodeBoth, ofType } from './helpers.js'

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url)

describe('real capture: ws library traffic with permessage-deflate and context takeover', () => {
  const file = readFileSync(fixture('ws-deflate-takeover.pcapng'))
  const expected = JSON.parse(readFileSync(fixture('ws-deflate-takeover.expected.json'), 'utf8')) as Record<'client' | 'server', Array<{ opcode: string, hex: string }>>

  it('decodes every message of both directions, inflated, in order', () => {
    const events = decodeBoth(file)
    expect(ofType(events, 'error')).toEqual([])
    const upgrade = ofType(events, 'http-upgrade')
    expect(upgrade.map((e) => [e.url, e.status, e.websocket, e.deflate])).toEqual([
      ['/?stmp_version=3&stmp_content_type=application/json', 101, true, { clientNoContextTakeover: false, serverNoContextTakeover: false }],
    ])
    for (const direction of ['client', 'server'] as const) {
      const messages = ofType(events, 'ws-message').filter((e) => e.direction === direction)
      expect(messages.map((e) => ({ opcode: e.opcode, hex: e.payload.toString('hex') }))).toEqual(expected[direction])
      expect(messages.every((e) => e.compressed)).toBe(true)
    }
    expect(ofType(events, 'ws-control').map((e) => [e.direction, e.opcode, e.code ?? null, e.reason ?? null])).toEqual([
      ['client', 'ping', null, null], ['server', 'pong', null, null], ['client', 'close', 1000, 'client done'], ['server', 'close', 1000, 'client done'],
    ])
    expect(ofType(events, 'tcp-close').map((e) => e.reason)).toEqual(['fin'])
  })

  it('without WebSocket detection, the same connection is raw bytes that start with the HTTP request', () => {
    const events = decodeCapture(file, { detectWebSocket: false })
    const client = ofType(events, 'data').filter((e) => e.direction === 'client')
    expect(client[0].streamOffset).toBe(0)
    expect(client[0].bytes.subarray(0, 4).toString()).toBe('GET ')
    expect(ofType(events, 'ws-message')).toEqual([])
  })
})

describe('real capture: dumpcap on two interfaces at once (lo as Ethernet, any as SLL2), nanosecond pcapng', () => {
  it('each exchange once per interface, in the file\'s (not time) order, nothing else', () => {
    const lines: Record<string, unknown>[] = []
    const stmp = new CaptureStmpDecoder((event) => lines.push(JSON.parse(captureLine(event)) as Record<string, unknown>))
    const decoder = new CaptureDecoder((event) => stmp.event(event))
    decoder.write(readFileSync(fixture('dumpcap-two-interfaces.pcapng')))
    decoder.end()
    stmp.end()
    expect(decoder.stats).toMatchObject({ packets: 80, cutShort: 0, skipped: { 'link-type': 0, 'not-ip': 0, 'not-tcp': 0, malformed: 0 } })
    expect(stmp.summary).toMatchObject({ connections: 6, stmpConnections: { stream: 4, websocket: 2 }, skippedConnections: 0, frames: 34, errors: 0, gaps: 0 })
    const exchanges = lines.filter((l) => l.kind === 'request' || l.kind === 'response' || l.kind === 'push')
      .map((l) => `${l.transport} ${l.direction} ${l.kind} ${l.action ?? l.status} ${JSON.stringify(l.payload)}`)
    const once = [
      'stream client request a.b {"x":1}', 'stream server response 200 {"x":1}',
      'websocket client request a.c {"y":2}', 'websocket server response 200 {"y":2}',
      'stream client push n.p [1]',
    ]
    // dumpcap writes each interface's packets in batches: a connection whole from lo, then from any.
    expect(exchanges).toEqual([once[0], once[1], once[0], once[1], once[2], once[3], once[2], once[3], once[4], once[4]])
    expect(lines.filter((l) => l.kind === 'close').every((l) => l.status === 1000)).toBe(true)
    // The same request seen 1 µs apart on the two interfaces, nanoseconds truncated.
    expect(lines.filter((l) => l.kind === 'request' && l.action === 'a.b').map((l) => l.time)).toEqual(['2026-12-01T19:59:36.900967Z', '2026-12-01T19:59:36.900966Z'])
  })
})
