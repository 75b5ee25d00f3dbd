import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { buildCapture, TcpConversation, type TcpPacketOut } from '../../helpers/pcap-writer.js'
import { tempDir } from '../../helpers/tmp.js'

/**
 * `decode` in the ndjson dialect (issue 12, points 3 and 4): a capture made here with the test
 * pcap writer, read through the dialect's own capture decoder (src/lib/dialects/ndjson/capture.ts)
 * by `--dialect`, by `--port N=NAME`, and sniffed for a connection neither names.
 */
const dir = tempDir('stmpcat-ndjson-decode-')

function conversation(port: number, clientPort: number, lines: [ 'client' | 'server', string][], end: 'close' | 'cut' = 'close'): TcpPacketOut[] {
  const conv = new TcpConversation({ client: { ip: '10.0.0.1', port: clientPort }, server: { ip: '10.0.0.2', port } })
  const packets = [...conv.handshake()]
  // 7-byte segments: every line is reassembled from several.
  for (const [from, text] of lines) packets.push(...conv.send(from, Buffer.from(text), 7))
  if (end === 'close') packets.push(...conv.close())
  return packets
}

const exchange: ['client' | 'server', string][] = [
  ['client', '{"id":1,"action":"user.get","payload":{"id":7}}\n'],
  ['server', '{"id":1,"status":200,"payload":{"id":7,"name":"ada"}}\n'],
  ['client', '{"action":"news","payload":"hi"}\n'],
]

function capture(name: string, packets: TcpPacketOut[]): string {
  const file = join(dir, name)
  writeFileSync(file, buildCapture({ format: 'pcap' }, packets))
  return file
}

describe('decode --dialect ndjson', () => {
  it('--dialect: each message once, reassembled across segments, payloads as JSON; stderr says which dialect and why', async () => {
    const file = capture('one.pcap', conversation(7000, 40000, exchange))
    const r = await runCli(['decode', file, '--dialect', 'ndjson', '--json'])
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.map((l) => [l.direction, l.dialect, l.kind])).toEqual([['client', 'ndjson', 'request'], ['server', 'ndjson', 'response'], ['client', 'ndjson', 'push']])
    expect(lines[0]).toMatchObject({ connection: '10.0.0.1:40000 -> 10.0.0.2:7000', id: 1, action: 'user.get', payload: { id: 7 } })
    expect(lines[1]).toMatchObject({ id: 1, status: 200, payload: { id: 7, name: 'ada' } })
    expect(r.stderr).toContain('10.0.0.1:40000 -> 10.0.0.2:7000: ndjson (--dialect)')
    expect(r.stderr).toMatch(/3 frames, 0 errors/)
  })

  it('--port N=ndjson names one connection; the other is sniffed; the text output has one line per message', async () => {
    const file = capture('two.pcap', [...conversation(7000, 40000, exchange), ...conversation(7001, 40001, exchange.slice(0, 2))])
    const r = await runCli(['decode', file, '--port', '7000=ndjson'])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain('10.0.0.2:7000: ndjson (--port)')
    expect(r.stderr).toContain('10.0.0.2:7001: ndjson (sniffed)')
    const out = r.stdout.trim().split('\n')
    expect(out).toHaveLength(5)
    expect(out[0]).toMatch(/10\.0\.0\.1:40000 -> 10\.0\.0\.2:7000 -> request id=1 action="user.get" payload=\{"id":7\}/)
  })

  it('a line cut by the connection\'s end is an error line, exit 5; bad --port and --dialect values are BAD_FLAG, exit 2', async () => {
    const file = capture('cut.pcap', conversation(7000, 40000, [['client', '{"id":1,"action":"a","payload":1}\n{"id":2,"act']], 'cut'))
    const r = await runCli(['decode', file, '--dialect', 'ndjson', '--json'])
    expect(r.code).toBe(5)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines[0]).toMatchObject({ kind: 'request', id: 1 })
    expect(lines[1]).toMatchObject({ error: 'TRUNCATED' })
    for (const args of [['--port', '99999=ndjson'], ['--port', 'x'], ['--dialect', 'nope'], ['--port', '7000=nope']]) {
      const bad = await runCli(['decode', file, ...args, '--json'])
      expect(bad.code).toBe(2)
      expect(JSON.parse(bad.stdout)).toMatchObject({ error: { code: 'BAD_FLAG' } })
    }
  })
})
