import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CaptureDecoder } from '../../src/lib/capture/decoder.js'
import { CaptureStmpDecoder } from '../../src/lib/capture/stmp.js'
import { captureLine } from '../../src/lib/render/capture-ndjson.js'
import { TcpFlag } from '../../src/lib/capture/ip.js'
import { buildCapture, TcpConversation } from '../helpers/pcap-writer.js'
import { encodeFrame, encodeHandshakeRequest } from '../../src/lib/codec/index.js'
import { ROOT, runCli } from '../helpers/cli.js'

/**
 * The real captures in test/fixtures/captures (tcpdump of stmpcat traffic on 127.0.0.1, made by
 * scripts/make-captures.mjs): decode must report exactly the requests, responses and pushes the
 * server saw, as NAME.expected.json lists them.
 */

const DIR = join(ROOT, 'test/fixtures/captures')
/** Each CLI test starts the built CLI up to three times; a loaded machine takes seconds a start. */
const CLI_TIMEOUT = 120_000
const NAMES = ['tcp', 'ws-binary', 'ws-text', 'fragmented', 'ws-deflate']

interface Expected {
  transport: 'stream' | 'websocket'
  ports: number[]
  exchanges: Array<Record<string, unknown>>
}
type Line = Record<string, unknown>

function expectedOf(name: string): Expected {
  return JSON.parse(readFileSync(join(DIR, `${name}.expected.json`), 'utf8')) as Expected
}

function decodeLines(file: Buffer, ports?: number[]): { lines: Line[]; stmp: CaptureStmpDecoder } {
  const text: string[] = []
  const stmp = new CaptureStmpDecoder((event) => text.push(captureLine(event)), { messages: true, ports })
  const decoder = new CaptureDecoder((event) => stmp.event(event))
  // 1000-byte chunks: frames and packets straddle chunk boundaries, as they do reading a file.
  for (let at = 0; at < file.length; at += 1000) decoder.write(file.subarray(at, at + 1000))
  decoder.end()
  stmp.end()
  return { lines: text.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line), stmp }
}

/** A decoded frame in the sidecar's form. */
function asExchange(line: Line, withFragments: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { connection: line.connection, direction: line.direction, kind: line.kind, id: line.id }
  if (line.kind === 'response') out.status = line.status
  else out.action = line.action
  const text = JSON.stringify(line.payload)
  if (text !== undefined) {
    if (text.length <= 512) out.payload = line.payload
    else Object.assign(out, { payloadSha256: createHash('sha256').update(text).digest('hex'), payloadLength: text.length })
  }
  if (withFragments && line.fragments !== undefined) out.fragments = line.fragments
  return out
}

function exchangesOf(lines: Line[], expected: Expected): Array<Record<string, unknown>> {
  return lines.filter((l) => l.kind === 'request' || l.kind === 'response' || l.kind === 'push').map((l) => {
    const x = asExchange(l, true)
    // The sidecar knows fragment counts only where the server logged fragments.
    const match = expected.exchanges.find((e) => e.connection === x.connection && e.direction === x.direction && e.kind === x.kind && e.id === x.id)
    if (match?.fragments === undefined) delete x.fragments
    return x
  })
}

const sortKey = (x: Record<string, unknown>) => JSON.stringify([x.connection, x.direction, x.kind, x.id, x.action ?? x.status])

describe.each(NAMES)('real capture %s', (name) => {
  const expected = expectedOf(name)
  it.each(['pcap', 'pcapng'])('the %s file decodes to exactly the exchanges the server saw', (format) => {
    const { lines, stmp } = decodeLines(readFileSync(join(DIR, `${name}.${format}`)))
    const found = exchangesOf(lines, expected)
    expect(expected.exchanges.length).toBeGreaterThan(0)
    expect([...found].sort((a, b) => sortKey(a).localeCompare(sortKey(b)))).toEqual([...expected.exchanges].sort((a, b) => sortKey(a).localeCompare(sortKey(b))))
    expect(stmp.summary.errors).toBe(0)
    expect(stmp.summary.gaps).toBe(0)
    expect(stmp.summary.skippedConnections).toBe(0)
    const transports = new Set(lines.filter((l) => l.kind !== undefined).map((l) => l.transport))
    expect([...transports]).toEqual([expected.transport])
    // Every connection starts with its handshake (stream) or upgrade (WebSocket), each side.
    const connections = new Set(expected.exchanges.map((x) => x.connection))
    for (const connection of connections) {
      const own = lines.filter((l) => l.connection === connection)
      expect(own.find((l) => l.direction === 'client')?.kind).toBe('handshake-request')
      expect(own.find((l) => l.direction === 'server')?.kind).toBe('handshake-response')
    }
    // --port gives the same frames as detection.
    expect(decodeLines(readFileSync(join(DIR, `${name}.${format}`)), expected.ports).lines).toEqual(lines)
  })
})

describe('real captures: details', () => {
  it('ws-text frames are text, ws-binary frames binary; permessage-deflate messages are inflated', () => {
    const formats = (name: string) => new Set(decodeLines(readFileSync(join(DIR, `${name}.pcapng`))).lines.filter((l) => l.kind === 'request' || l.kind === 'response').map((l) => l.format))
    expect([...formats('ws-text')]).toEqual(['text'])
    expect([...formats('ws-binary')]).toEqual(['binary'])
    expect([...formats('ws-deflate')].sort()).toEqual(['binary', 'text'])
  })
  it('WebSocket close frames are close lines: one from each side of every connection, 1000, last of its side (as tshark shows them)', () => {
    for (const name of ['ws-binary', 'ws-text', 'ws-deflate']) {
      const { lines } = decodeLines(readFileSync(join(DIR, `${name}.pcap`)))
      const connections = new Set(expectedOf(name).exchanges.map((x) => x.connection))
      const closes = lines.filter((l) => l.kind === 'close')
      expect(closes).toHaveLength(connections.size * 2)
      for (const connection of connections) {
        for (const direction of ['client', 'server']) {
          const own = lines.filter((l) => l.connection === connection && l.direction === direction && l.kind !== undefined)
          expect(own.filter((l) => l.kind === 'close')).toHaveLength(1)
          expect(own.at(-1)).toMatchObject({ kind: 'close', status: 1000, message: '', transport: 'websocket', format: 'control' })
        }
      }
    }
  })
  it('the fragmented capture holds the message in several frames; without --messages each is printed', () => {
    const text: string[] = []
    const stmp = new CaptureStmpDecoder((event) => text.push(captureLine(event)))
    const decoder = new CaptureDecoder((event) => stmp.event(event))
    decoder.write(readFileSync(join(DIR, 'fragmented.pcap')))
    decoder.end()
    stmp.end()
    const requests = text.map((l) => JSON.parse(l) as Line).filter((l) => l.kind === 'request' && l.id === 1 && l.direction === 'client')
    expect(requests.filter((l) => l.follow === true || l.fin === true).length).toBeGreaterThanOrEqual(3)
  })
})

describe('decode FILE for captures (the built CLI)', () => {
  it('--json --messages on a pcapng: the same exchanges, NDJSON only on stdout, the summary on stderr, exit 0', async () => {
    const run = await runCli(['decode', join(DIR, 'tcp.pcapng'), '--json', '--messages'])
    expect(run.code).toBe(0)
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line)
    const expected = expectedOf('tcp')
    expect(exchangesOf(lines, expected).length).toBe(expected.exchanges.length)
    for (const l of lines) expect(Object.keys(l)).toEqual(expect.arrayContaining(['kind', 'time', 'connection', 'direction', 'transport', 'format']))
    expect(run.stderr).toMatch(/^stmpcat decode: 5 connections/)
  }, CLI_TIMEOUT)
  it('reads a capture from stdin (auto-detected) and with --input pcap', async () => {
    const file = readFileSync(join(DIR, 'ws-binary.pcap'))
    for (const args of [['decode', '--json'], ['decode', '-', '--json', '--input', 'pcap']]) {
      const run = await runCli(args, { stdin: file })
      expect(run.code).toBe(0)
      expect(run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line).filter((l) => l.kind === 'request')).toHaveLength(3)
    }
  }, CLI_TIMEOUT)
  it('the table on a terminal-less stdout, with filters', async () => {
    const run = await runCli(['decode', join(DIR, 'tcp.pcap'), '--action', 'a.*', '--kind', 'response'])
    expect(run.code).toBe(0)
    const rows = run.stdout.trim().split('\n')
    expect(rows[0]).toMatch(/^time\s+connection\s+dir\s+kind/)
    expect(rows.slice(1)).toHaveLength(3)
    for (const row of rows.slice(1)) expect(row).toMatch(/server\s+response\s+\d+\s+200/)
  }, CLI_TIMEOUT)
  it('a broken capture is BAD_CAPTURE, exit 2, after the frames before the damage', async () => {
    const file = readFileSync(join(DIR, 'tcp.pcap'))
    const cut = await runCli(['decode', '--json', '--input', 'pcap'], { stdin: file.subarray(0, file.length - 10) })
    expect(cut.code).toBe(2)
    const lines = cut.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line)
    expect(lines.at(-1)).toMatchObject({ error: { code: 'BAD_CAPTURE' } })
    expect(lines.filter((l) => l.kind === 'request').length).toBeGreaterThan(0)
    const notCapture = await runCli(['decode', '--input', 'pcap'], { stdin: 'hello there' })
    expect(notCapture.code).toBe(2)
    expect(notCapture.stderr).toContain('BAD_CAPTURE')
  }, CLI_TIMEOUT)
  it('protocol errors in a capture: exit 5, each error a line with its connection; a gap alone: exit 0', async () => {
    const c = new TcpConversation({ client: { ip: '10.0.0.1', port: 4000 }, server: { ip: '10.0.0.2', port: 5000 } })
    const hs = encodeHandshakeRequest({ url: '/', headers: {} })
    const ping = encodeFrame({ kind: 'ping', id: 1 })
    const packets = [...c.handshake(), ...c.send('client', Buffer.concat([hs, Buffer.from([0x02, 0x70, 0x00]), ping])), ...c.close()]
    const bad = await runCli(['decode', '--json', '-'], { stdin: buildCapture({ format: 'pcapng' }, packets) })
    expect(bad.code).toBe(5)
    const lines = bad.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line)
    expect(lines.filter((l) => l.error !== undefined)).toEqual([{ error: { code: 'BAD_KIND', message: expect.any(String), offset: hs.length }, connection: '10.0.0.1:4000 -> 10.0.0.2:5000', direction: 'client', time: expect.any(String) }])
    expect(lines.at(-1)).toMatchObject({ kind: 'ping', id: 1 })

    const g = new TcpConversation({ client: { ip: '10.0.0.1', port: 4001 }, server: { ip: '10.0.0.2', port: 5000 } })
    const first = [...g.handshake(), ...g.send('client', hs)]
    g.segment('client', TcpFlag.ACK | TcpFlag.PSH, ping) // sent, but not in the capture: a gap
    const after = [...g.send('client', ping), ...g.close()]
    const gap = await runCli(['decode', '--json', '-'], { stdin: buildCapture({ format: 'pcap' }, [...first, ...after].map((p) => ({ time: p.time, ip: p.ip }))) })
    expect(gap.code).toBe(0)
    const gapLines = gap.stdout.trim().split('\n').map((l) => JSON.parse(l) as Line)
    expect(gapLines.filter((l) => l.gap !== undefined)).toEqual([{ gap: { connection: '10.0.0.1:4001 -> 10.0.0.2:5000', direction: 'client', offset: hs.length, bytes: ping.length, time: expect.any(String) } }])
    expect(gapLines.filter((l) => l.undecodable !== undefined)).toEqual([{ undecodable: { connection: '10.0.0.1:4001 -> 10.0.0.2:5000', direction: 'client', offset: hs.length, bytes: 2 * ping.length, time: expect.any(String) } }])
    expect(gap.stderr).toMatch(/1 gap \(4 bytes missing\)/)
  }, CLI_TIMEOUT)
  it('capture flags on hex input are BAD_FLAG', async () => {
    const run = await runCli(['decode', '--json', '--messages'], { stdin: '03 00 00 07' })
    expect(run.code).toBe(2)
    expect(JSON.parse(run.stdout.trim())).toMatchObject({ error: { code: 'BAD_FLAG' } })
  }, CLI_TIMEOUT)
})
