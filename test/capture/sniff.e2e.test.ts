import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { encodeFrame, encodeHandshakeRequest, encodeHandshakeResponse } from '../../src/lib/codec/index.js'
import { runCli } from '../helpers/cli.js'
import { buildCapture, TcpConversation, type TcpPacketOut } from '../helpers/pcap-writer.js'
import { tempDir } from '../helpers/tmp.js'
import { wsConversation } from '../dialects/stocking/transcript.js'

/**
 * `decode CAPTURE` with no --dialect and no --port: every connection is sniffed against every
 * dialect that reads captures. STMP v3 connections keep v3's own lines; another dialect's come
 * out in that dialect with its name; a connection no dialect knows is counted as skipped.
 */
const dir = tempDir('stmpcat-sniff-')
const STREAM = { format: 'binary', framing: 'stream', serverLatency: false } as const

function stream(port: number, start: bigint, talk: (conv: TcpConversation) => TcpPacketOut[]): TcpPacketOut[] {
  const conv = new TcpConversation({ client: { ip: '10.0.0.1', port }, server: { ip: '10.0.0.2', port: 7000 }, startTime: start })
  return [...conv.handshake(), ...talk(conv), ...conv.close()]
}

function capture(): string {
  const v3 = stream(40001, 1_800_000_000_000_000_000n, (c) => [
    ...c.send('client', encodeHandshakeRequest({ url: '/?stmp_version=3', headers: {} })),
    ...c.send('server', encodeHandshakeResponse({ status: 200, message: 'ok' })),
    ...c.send('client', encodeFrame({ kind: 'request', id: 1, action: 'echo', payload: Buffer.from('{"a":1}'), follow: false, fin: false }, STREAM)),
    ...c.send('server', encodeFrame({ kind: 'response', id: 1, status: 200, latency: null, payload: Buffer.from('{"a":1}'), follow: false, fin: false }, STREAM)),
  ])
  const sockhop = stream(40002, 1_800_000_001_000_000_000n, (c) => [
    ...c.send('client', Buffer.from('{"type":"Widget","data":{"w":1},"id":"6f1c7a52-0b7e-4c55-9a43-0b9f2c1d3e4f"}\n')),
    ...c.send('server', Buffer.from('{"type":"Widget","data":{"w":1},"callback_id":"6f1c7a52-0b7e-4c55-9a43-0b9f2c1d3e4f"}\n')),
  ])
  // A server speaking first, in a dialect nobody has: no STMP v3 (its client speaks first), no other.
  const unknown = stream(40003, 1_800_000_002_000_000_000n, (c) => [...c.send('server', Buffer.from('220 smtp.example ESMTP\r\n')), ...c.send('client', Buffer.from('QUIT\r\n'))])
  const stocking = wsConversation(40004, 7001, [{ from: 'server', text: '0' }, { from: 'client', text: '4,1,{"e":"echo","p":{"x":1}}' }, { from: 'server', text: '4,1,{"c":-1,"p":{"x":1}}' }], 1_800_000_003_000_000_000n)
  const file = join(dir, 'mixed.pcap')
  writeFileSync(file, buildCapture({ format: 'pcap' }, [...v3, ...sockhop, ...unknown, ...stocking]))
  return file
}

const parse = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)

describe('decode with no flag: each connection sniffed', () => {
  const file = capture()

  it('--json: v3 lines for the v3 connection, sockhop and stocking lines named by dialect, the unknown one skipped', async () => {
    const r = await runCli(['decode', file, '--json'])
    expect(r.code).toBe(0)
    const lines = parse(r.stdout)
    const v3 = lines.filter((l) => String(l.connection).startsWith('10.0.0.1:40001'))
    expect(v3.map((l) => l.kind)).toEqual(['handshake-request', 'handshake-response', 'request', 'response'])
    expect(v3.every((l) => l.dialect === undefined)).toBe(true)
    const sockhop = lines.filter((l) => l.dialect === 'sockhop')
    expect(sockhop.map((l) => [l.direction, l.kind, l.type])).toEqual([['client', 'request', 'Widget'], ['server', 'response', 'Widget']])
    const stocking = lines.filter((l) => l.dialect === 'stocking')
    expect(stocking.map((l) => [l.direction, l.kind])).toEqual([['server', 'connect'], ['client', 'request'], ['server', 'response']])
    expect(lines.some((l) => String(l.connection).includes(':40003'))).toBe(false)
    expect(r.stderr).toMatch(/4 connections \(1 STMP: 1 stream, 0 websocket; 1 sockhop; 1 stocking; 1 skipped\)/)
    expect(r.stderr).toMatch(/no errors/)
  })

  it('the table names the dialect on each of its rows; --threads 2 gives the same lines as one thread', async () => {
    const table = await runCli(['decode', file])
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/client\s+request\s+Widget\s+\(sockhop\)/)
    expect(table.stdout).toMatch(/server\s+connect\s+\(stocking\)/)
    const one = await runCli(['decode', file, '--json', '--threads', '1'])
    const two = await runCli(['decode', file, '--json', '--threads', '2'])
    expect(two.code).toBe(0)
    expect(two.stdout).toBe(one.stdout)
  })

  it('--port 7001=stocking: the rest sniffed on the dialects\' path, STMP v3 through its own CaptureSupport', async () => {
    const r = await runCli(['decode', file, '--port', '7001=stocking', '--json'])
    expect(r.code).toBe(0)
    const lines = parse(r.stdout)
    const v3 = lines.filter((l) => l.dialect === 'stmp-v3')
    expect(v3.map((l) => [l.direction, l.kind])).toEqual([['client', 'handshake-request'], ['server', 'handshake-response'], ['client', 'request'], ['server', 'response']])
    expect(v3[2]).toMatchObject({ id: 1, action: 'echo', payload: { a: 1 } })
    expect(v3[3]).toMatchObject({ id: 1, status: 200, payload: { a: 1 } })
    expect(r.stderr).toContain('10.0.0.1:40001 -> 10.0.0.2:7000: stmp-v3 (sniffed)')
    expect(r.stderr).toContain('10.0.0.1:40002 -> 10.0.0.2:7000: sockhop (sniffed)')
    expect(r.stderr).toContain('127.0.0.1:40004 -> 127.0.0.1:7001: stocking (--port)')
  })

  it('--dialect stmp-v3 reads only as v3 (nothing sniffed): the other connections are skipped', async () => {
    const r = await runCli(['decode', file, '--dialect', 'stmp-v3', '--json'])
    const lines = parse(r.stdout)
    expect(lines.some((l) => l.dialect !== undefined)).toBe(false)
    expect(r.stderr).toMatch(/4 connections \(2 STMP: 1 stream, 1 websocket; 2 skipped\)/)
  })
})
