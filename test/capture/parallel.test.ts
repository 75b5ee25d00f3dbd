import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { IpProtocol, TcpFlag } from '../../src/lib/capture/ip.js'
import type { WorkerFailure } from '../../src/lib/capture/parallel-batch.js'
import { workerFailure } from '../../src/lib/render/capture-parallel.js'
import { debugStack } from '../../src/lib/cli/base-command.js'
import { buildCapture, ipv4Packet, TcpConversation, type TcpPacketOut } from '../helpers/pcap-writer.js'
import { encodeFragmented, encodeFrame, encodeHandshakeRequest, encodeHandshakeResponse } from '../../src/lib/codec/index.js'
import { BIN, ROOT, runCli } from '../helpers/cli.js'
import { tempDir } from '../helpers/tmp.js'
import { MASK, upgradeRequest, upgradeResponse, wsFrame } from './helpers.js'

/**
 * `decode --json --threads N` (src/lib/render/capture-parallel.ts) shares connections out to worker
 * threads and puts their lines back in capture order: its stdout, summary and exit code must be
 * those of the one-thread path, byte for byte, on every kind of capture.
 */

const DIR = join(ROOT, 'test/fixtures/captures')
const CLI_TIMEOUT = 120_000

/** Interleaves the packets of several conversations, one from each in turn. */
function interleave(lists: TcpPacketOut[][]): TcpPacketOut[] {
  const out: TcpPacketOut[] = []
  for (let i = 0; lists.some((l) => i < l.length); i++) for (const l of lists) if (i < l.length) out.push(l[i])
  return out
}

/**
 * Twelve STMP connections whose frames interleave (requests, pushes, responses with latency, small
 * segments that split frames), one with a protocol error, one with a missing segment, one with a
 * segment lost inside a frame, one with a segment in IP fragments, one that is not STMP, and one
 * left open at the end of the capture.
 */
function mixedCapture(): Buffer {
  const lists: TcpPacketOut[][] = []
  for (let c = 0; c < 12; c++) {
    const conv = new TcpConversation({ client: { ip: '10.0.0.1', port: 40000 + c }, server: { ip: '10.0.0.2', port: 5000 }, startTime: 1_767_225_600_000_000_000n + BigInt(c) * 1000n })
    const packets = [
      ...conv.handshake(),
      ...conv.send('client', encodeHandshakeRequest({ url: '/?stmp_server_latency=1', headers: {} })),
      ...conv.send('server', encodeHandshakeResponse({ status: 200, message: 'OK' })),
    ]
    for (let id = 1; id <= 20; id++) {
      const payload = Buffer.from(JSON.stringify({ c, id, text: 'é'.repeat(id % 3) }))
      const request = encodeFrame({ kind: 'request', id, action: `svc.m${id % 4}`, payload, follow: false, fin: false }, { format: 'binary', framing: 'stream', serverLatency: true })
      const response = encodeFrame({ kind: 'response', id, status: id % 5 === 0 ? 404 : 200, latency: id, payload: id % 5 === 0 ? Buffer.from('not found') : payload, follow: false, fin: false }, { format: 'binary', framing: 'stream', serverLatency: true })
      packets.push(...conv.send('client', request, 7 + c), ...conv.send('server', response, 11 + c))
      if (id % 6 === 0) packets.push(...conv.send('server', encodeFrame({ kind: 'push', id: 0, action: 'news', payload: Buffer.from('[1,2]'), follow: false, fin: false }, { format: 'binary', framing: 'stream', serverLatency: true })))
    }
    if (c === 3) packets.push(...conv.send('client', Buffer.from([0x02, 0x70, 0x00])))
    if (c === 5) {
      conv.segment('client', TcpFlag.ACK | TcpFlag.PSH, encodeFrame({ kind: 'ping', id: 9 })) // not in the capture: a gap
      packets.push(...conv.send('client', encodeFrame({ kind: 'ping', id: 10 })))
    }
    if (c === 8) {
      // A segment lost inside a long frame: that frame undecodable, decoding goes on after it.
      const long = conv.send('client', encodeFrame({ kind: 'request', id: 30, action: 'svc.long', payload: Buffer.alloc(300, 0x61), follow: false, fin: false }), 100)
      packets.push(...long.filter((_, i) => i !== 1), ...conv.send('client', encodeFrame({ kind: 'ping', id: 31 })))
    }
    if (c === 9) {
      // A segment sent as two IP fragments: reported on the main thread, in capture order.
      const [segment] = conv.send('client', encodeFrame({ kind: 'ping', id: 32 }))
      const tcp = segment.ip.subarray(20)
      const frag = (payload: Buffer, fragmentOffset: number, moreFragments: boolean) => ({ ...segment, ip: ipv4Packet({ src: '10.0.0.1', dst: '10.0.0.2', protocol: IpProtocol.TCP, payload, id: 77, fragmentOffset, moreFragments }) })
      packets.push(frag(tcp.subarray(0, 8), 0, true), frag(tcp.subarray(8), 8, false))
    }
    if (c !== 7) packets.push(...conv.close())
    lists.push(packets)
  }
  const http = new TcpConversation({ client: { ip: '10.0.0.3', port: 41000 }, server: { ip: '10.0.0.2', port: 80 } })
  lists.push([...http.handshake(), ...http.send('client', Buffer.from('HEAD / HTTP/1.1\r\n\r\n')), ...http.close()])
  return buildCapture({ format: 'pcapng' }, interleave(lists))
}

/**
 * Issue 18 point 6: two connections that are not STMP (so that the next ones go to worker
 * threads), one TCP connection carrying a 400 KB request in 64 KiB fragments (and a fragmented
 * response), and one WebSocket connection with 150 messages, their packets interleaved: the
 * fragmented message crosses the worker's batches, so a frame's start waits in one batch for its
 * rest in the next.
 */
function fragmentedAndWebSocketCapture(drop = 0): Buffer {
  const stream = { format: 'binary', framing: 'stream', serverLatency: false } as const
  const ws = { format: 'binary', framing: 'websocket', serverLatency: false } as const
  const lists: TcpPacketOut[][] = []
  for (let c = 0; c < 2; c++) {
    const other = new TcpConversation({ client: { ip: '10.0.0.9', port: 30000 + c }, server: { ip: '10.0.0.2', port: 80 } })
    lists.push([...other.handshake(), ...other.send('client', Buffer.from('GET / HTTP/1.1\r\n\r\n')), ...other.close()])
  }
  const tcp = new TcpConversation({ client: { ip: '10.0.0.1', port: 40000 }, server: { ip: '10.0.0.2', port: 5000 } })
  const big = Buffer.from(JSON.stringify({ text: 'stmp '.repeat(80_000) }))
  const tcpPackets = [
    ...tcp.handshake(),
    ...tcp.send('client', encodeHandshakeRequest({ url: '/', headers: {} })),
    ...tcp.send('server', encodeHandshakeResponse({ status: 200, message: 'OK' })),
  ]
  for (const frame of encodeFragmented({ kind: 'request', id: 1, action: 'blob.put', payload: big, follow: false, fin: false }, stream)) tcpPackets.push(...tcp.send('client', frame, 16_384))
  for (const frame of encodeFragmented({ kind: 'response', id: 1, status: 200, latency: null, payload: big.subarray(0, 150_000), follow: false, fin: false }, stream)) tcpPackets.push(...tcp.send('server', frame, 16_384))
  tcpPackets.push(...tcp.close())
  // `drop`: the capture stops before the TCP connection's last packets (its close and some data).
  lists.push(tcpPackets.slice(0, tcpPackets.length - drop))
  const web = new TcpConversation({ client: { ip: '10.0.0.1', port: 40001 }, server: { ip: '10.0.0.2', port: 8080 } })
  const webPackets = [...web.handshake(), ...web.send('client', upgradeRequest('/')), ...web.send('server', upgradeResponse())]
  for (let id = 1; id <= 150; id++) {
    const payload = Buffer.from(JSON.stringify({ id, pad: 'w'.repeat(1000) }))
    webPackets.push(
      ...web.send('client', wsFrame({ opcode: 2, payload: encodeFrame({ kind: 'request', id, action: 'ws.echo', payload, follow: false, fin: false }, ws), mask: MASK })),
      ...web.send('server', wsFrame({ opcode: 2, payload: encodeFrame({ kind: 'response', id, status: 200, latency: null, payload, follow: false, fin: false }, ws) })),
    )
  }
  webPackets.push(...web.close())
  lists.push(webPackets)
  return buildCapture({ format: 'pcap' }, interleave(lists))
}

/** mixedCapture() in a file of a temp directory, and its decode on one thread. */
async function mixedOneThread(): Promise<{ dir: string; file: string; one: Awaited<ReturnType<typeof runCli>> }> {
  const dir = tempDir('stmpcat-parallel-')
  const file = join(dir, 'mixed.pcapng')
  writeFileSync(file, mixedCapture())
  return { dir, file, one: await runCli(['decode', file, '--json', '--threads', '1']) }
}

async function expectSameAsOneThread(args: string[], stdin?: Buffer, threads = 3): Promise<Awaited<ReturnType<typeof runCli>>> {
  const [one, many] = await Promise.all([
    runCli([...args, '--threads', '1'], { stdin }),
    runCli([...args, '--threads', String(threads)], { stdin }),
  ])
  expect(many.stderr).toBe(one.stderr)
  expect(many.code).toBe(one.code)
  expect(many.stdout.length).toBe(one.stdout.length)
  expect(many.stdout === one.stdout).toBe(true)
  return one
}

describe('decode --json --threads N: the same output as one thread', () => {
  it('on every real capture, with --messages and with filters', async () => {
    for (const name of ['tcp', 'ws-binary', 'ws-text', 'fragmented', 'ws-deflate']) {
      await expectSameAsOneThread(['decode', join(DIR, `${name}.pcapng`), '--json'])
    }
    await expectSameAsOneThread(['decode', join(DIR, 'fragmented.pcap'), '--json', '--messages'])
    await expectSameAsOneThread(['decode', join(DIR, 'tcp.pcap'), '--json', '--action', 'a.*', '--kind', 'request,response'])
  }, 4 * CLI_TIMEOUT)

  it('on interleaved connections with a protocol error, a gap, a skipped connection and one left open', async () => {
    const { file, one } = await mixedOneThread()
    expect(one.code).toBe(5)
    const lines = one.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    // The capture holds what the test means it to: errors, a gap, frames of all twelve connections.
    expect(lines.filter((l) => l.error !== undefined).length).toBeGreaterThan(0)
    expect(lines.filter((l) => l.gap !== undefined)).toHaveLength(3)
    expect(lines.filter((l) => (l.undecodable as { lost?: string } | undefined)?.lost === 'frame')).toHaveLength(1)
    expect(lines.filter((l) => l.ipFragment !== undefined)).toHaveLength(2)
    expect(new Set(lines.filter((l) => l.kind !== undefined).map((l) => l.connection)).size).toBe(12)
    expect(one.stderr).toMatch(/1 skipped/)
    await expectSameAsOneThread(['decode', file, '--json'])
    await expectSameAsOneThread(['decode', file, '--json', '--status', '4xx'])
  }, 2 * CLI_TIMEOUT)

  it('on a 400 KB fragmented message and a WebSocket connection, from a file and from stdin, with --messages (issue 18 point 6)', async () => {
    const dir = tempDir('stmpcat-parallel-')
    const file = join(dir, 'fragmented-ws.pcap')
    const capture = fragmentedAndWebSocketCapture()
    writeFileSync(file, capture)
    for (const threads of [2, 3]) {
      const one = await expectSameAsOneThread(['decode', file, '--json'], undefined, threads)
      expect(one.code).toBe(0)
      // Stdin comes in pipe-sized chunks: each is a batch, and the message spans many.
      await expectSameAsOneThread(['decode', '--json'], capture, threads)
      const joined = await expectSameAsOneThread(['decode', file, '--json', '--messages'], undefined, threads)
      const lines = joined.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind?: string; action?: string; payload?: { text?: string }; transport?: string })
      // The capture holds what the test means it to: the whole 400 KB request once, 300 WebSocket frames.
      expect(lines.filter((l) => l.action === 'blob.put').map((l) => l.payload?.text?.length)).toEqual([400_000])
      expect(lines.filter((l) => l.transport === 'websocket' && (l.kind === 'request' || l.kind === 'response'))).toHaveLength(300)
    }
    // The capture stopping inside the fragmented message (issue 18 point 7): the lines that say so come the same way.
    const cut = await expectSameAsOneThread(['decode', '--json', '--messages'], fragmentedAndWebSocketCapture(12), 2)
    expect(cut.code).toBe(0)
    expect(cut.stdout).toMatch(/"lost":"end"/)
  }, 4 * CLI_TIMEOUT)

  it('with stdout a file (the lines written with writev, not copied): the same bytes', async () => {
    const { dir, file, one } = await mixedOneThread()
    const out = join(dir, 'out.ndjson')
    const fd = openSync(out, 'w')
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'decode', file, '--json', '--threads', '3'], { cwd: ROOT, stdio: ['ignore', fd, 'ignore'] })
      child.on('close', resolve)
    })
    closeSync(fd)
    expect(code).toBe(one.code)
    const written = readFileSync(out, 'utf8')
    expect(written.length).toBeGreaterThan(10_000)
    expect(written === one.stdout).toBe(true)
  }, 2 * CLI_TIMEOUT)

  it('on a broken capture from stdin: the same lines, then BAD_CAPTURE, exit 2', async () => {
    const file = readFileSync(join(DIR, 'ws-text.pcap'))
    await expectSameAsOneThread(['decode', '--json', '-'], file.subarray(0, file.length - 10))
  }, CLI_TIMEOUT)

  it('a worker that fails: INTERNAL, with the stack from inside the worker for STMPCAT_DEBUG=1', async () => {
    // The built worker, as the CLI runs it, sent a batch whose record names an event it does not hold.
    const worker = new Worker(join(ROOT, 'dist/lib/render/capture-parallel-worker.js'), { workerData: { options: {} } })
    try {
      const reply = new Promise<WorkerFailure>((resolve) => worker.once('message', resolve))
      worker.postMessage({ type: 'batch', records: 1, meta: Float64Array.of(1, 0, 0, 5, 0), times: new BigInt64Array(1), bytes: new Uint8Array(0), others: [] })
      const msg = await reply
      expect(msg.type).toBe('error')
      const err = workerFailure(msg.error)
      expect(err.code).toBe('INTERNAL')
      expect(err.message).toMatch(/^unexpected error in a decode worker: .+ \(set STMPCAT_DEBUG=1 for the stack\)$/)
      // What base-command prints with STMPCAT_DEBUG=1: this thread's stack, then the worker's.
      expect(debugStack(err)).toMatch(/Caused by: TypeError: [^\n]+\n\s+at [^\n]*parallel-(batch|worker)\.js/)
    } finally {
      await worker.terminate()
    }
  })
})
