import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { decodeCapture } from '../../src/lib/capture/decoder.js'
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
