import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { buildCapture, TcpConversation, type TcpPacketOut } from '../helpers/pcap-writer.js'
import { encodeFragmented, encodeFrame, encodeHandshakeRequest, encodeHandshakeResponse } from '../../src/lib/codec/index.js'
import { MASK, upgradeRequest, upgradeResponse, wsFrame } from '../capture/helpers.js'
import { hexdumpC, odT1, odX1z, xxd } from '../helpers/dumps.js'
import { loadVectors, pick, vectorBytes, vectorHandshake, type Vector } from '../helpers/vectors.js'

/**
 * `stmpcat decode` as a user runs it: the built CLI in a child process, input on stdin or in a
 * file, NDJSON on stdout, the exit code. Every public conformance vector goes through it.
 */

// Each test spawns the CLI (about 0.4-0.9 s of CPU for oclif to start); on two shared cores under
// load that can take far longer than the default timeout.
vi.setConfig({ testTimeout: 180_000 })

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const BIN = join(ROOT, 'bin/run.js')

interface Run { code: number | null; stdout: string; stderr: string }

function stmpcat(args: string[], stdin: string | Buffer = ''): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined } })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => resolveRun({ code, stdout, stderr }))
    child.stdin.end(stdin)
  })
}

interface Lines { frames: Record<string, unknown>[]; errors: { code: string; message: string; offset: number }[]; all: Record<string, unknown>[] }

function ndjson(stdout: string): Lines {
  const all = stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  return {
    all,
    frames: all.filter((o) => !('error' in o)),
    errors: all.filter((o) => 'error' in o).map((o) => o.error as Lines['errors'][number]),
  }
}

/** The flags that tell `decode` what a vector's input is. */
function vectorFlags(v: Vector): string[] {
  const flags = ['--transport', v.transport, '--format', v.format]
  if (v.serverLatency) flags.push('--server-latency')
  if (v.transport === 'stream') flags.push('--handshake', vectorHandshake(v))
  if (v.format === 'text') flags.push('--input', 'raw')
  return flags
}

/** Binary vectors as hex text on stdin (as a user pastes them), text vectors as the raw message. */
function vectorStdin(v: Vector): string {
  return v.format === 'text' ? (v.inputText ?? '') : `${vectorBytes(v).toString('hex').replace(/(..)(?!$)/g, '$1 ')}\n`
}

function expectVector(v: Vector, run: Run): void {
  const out = ndjson(run.stdout)
  expect(out.frames.map((f, i) => pick(f, v.frames[i] ?? {}))).toEqual(v.frames)
  expect(out.frames).toHaveLength(v.frames.length)
  if (v.error) {
    expect(out.errors.length).toBeGreaterThanOrEqual(1)
    expect({ code: out.errors[0].code, offset: out.errors[0].offset }).toEqual(v.error)
    expect(run.code).toBe(5)
  } else {
    expect(out.errors).toEqual([])
    expect(run.code).toBe(0)
  }
}

const vectors = loadVectors()
const tmp = mkdtempSync(join(tmpdir(), 'stmpcat-decode-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe.concurrent('decode --json: every conformance vector', () => {
  for (const v of vectors) {
    it(v.name, async () => {
      expectVector(v, await stmpcat(['decode', '--json', ...vectorFlags(v)], vectorStdin(v)))
    })
  }
})

describe.concurrent('decode --json: output fields', () => {
  it('adds offset and length to every frame, and errors in input order among them', async () => {
    // ping, a request without its "\n" (NO_ACTION_END), then a good push: LENGTH lets decoding go on.
    const hex = '03000007' + '0d1000016e6f2e6e65776c696e65' + '0e200002612e620a7b2278223a317d'
    const run = await stmpcat(['decode', '--json', '--input', 'hex'], hex)
    expect(run.code).toBe(5)
    const out = ndjson(run.stdout)
    expect(out.all.map((o) => ('error' in o ? 'error' : o.kind))).toEqual(['ping', 'error', 'push'])
    expect(out.all[0]).toMatchObject({ kind: 'ping', id: 7, offset: 0, length: 4 })
    expect(out.all[1]).toEqual({ error: { code: 'NO_ACTION_END', message: expect.any(String), offset: 4 } })
    expect(out.all[2]).toMatchObject({ kind: 'push', id: 2, action: 'a.b', offset: 18, length: 15, payload: { x: 1 } })
    // exactly frameToJson's fields plus offset, length and payload
    expect(Object.keys(out.all[2]).sort()).toEqual(['action', 'fin', 'follow', 'id', 'kind', 'length', 'offset', 'payload', 'payloadHex'])
  })

  it('adds payload only when the payload is valid JSON', async () => {
    const bin = vectors.find((v) => v.name === 'two-byte LENGTH')
    expect(bin).toBeDefined()
    const run = await stmpcat(['decode', '--json', '--input', 'hex'], vectorBytes(bin as Vector).toString('hex'))
    const [frame] = ndjson(run.stdout).frames
    expect(frame).not.toHaveProperty('payload')
    expect(frame).toHaveProperty('payloadHex')
  })

  it('reads a file argument, and "-" as stdin', async () => {
    const file = join(tmp, 'request.hex')
    const v = vectors.find((x) => x.name === 'request, stream') as Vector
    writeFileSync(file, vectorStdin(v))
    expectVector(v, await stmpcat(['decode', '--json', file]))
    expectVector(v, await stmpcat(['decode', '--json', '-'], vectorStdin(v)))
  })

  it('stdin shorter than a capture magic number is decoded all the same (the peeked bytes are not lost)', async () => {
    const short = await stmpcat(['decode', '--json'], '00')
    expect(short.code).toBe(5)
    expect(ndjson(short.stdout).errors.map((e) => e.code)).toEqual(['SHORT_FRAME'])
    expect(short.stderr).toContain('in 1 byte of hex input')
    const raw = await stmpcat(['decode', '--json'], Buffer.from([0x01, 0x00]))
    expect(ndjson(raw.stdout).errors.map((e) => [e.code, e.offset])).toEqual([['SHORT_FRAME', 0]])
    expect(raw.stderr).toContain('in 2 bytes of raw input')
    const empty = await stmpcat(['decode', '--json'], '')
    expect([empty.code, empty.stdout]).toEqual([0, ''])
  })

  it('reads raw bytes from a file with --input raw', async () => {
    const v = vectors.find((x) => x.name === 'three frames back to back') as Vector
    const file = join(tmp, 'three.bin')
    writeFileSync(file, vectorBytes(v))
    expectVector(v, await stmpcat(['decode', '--json', '--input', 'raw', file]))
  })

  it('reads base64 with --input base64', async () => {
    const v = vectors.find((x) => x.name === 'response with server latency') as Vector
    expectVector(v, await stmpcat(['decode', '--json', '--input', 'base64', '--server-latency'], vectorBytes(v).toString('base64')))
  })

  it('reports TOO_LARGE for a frame over --max-frame and goes on after it', async () => {
    // a 40-byte request, then a ping
    const v = vectors.find((x) => x.name === 'request, stream') as Vector
    const hex = vectorBytes(v).toString('hex') + '03000007'
    const run = await stmpcat(['decode', '--json', '--input', 'hex', '--max-frame', '16'], hex)
    expect(run.code).toBe(5)
    const out = ndjson(run.stdout)
    expect(out.errors.map((e) => [e.code, e.offset])).toEqual([['TOO_LARGE', 0]])
    expect(out.frames).toMatchObject([{ kind: 'ping', id: 7, offset: 40 }])
  })
})

describe.concurrent('decode: dumps through auto-detection', () => {
  const multi = vectors.find((v) => v.name === 'request in three fragments') as Vector
  const dumps: [string, (b: Buffer) => string][] = [['xxd', xxd], ['hexdump -C', hexdumpC], ['od -A x -t x1z', odX1z], ['od -t x1', odT1]]
  for (const [name, dump] of dumps) {
    it(`${name} of a vector`, async () => {
      for (const v of [multi, vectors.find((x) => x.name === 'unicode payload') as Vector]) {
        expectVector(v, await stmpcat(['decode', '--json'], dump(vectorBytes(v))))
      }
    })
  }

  it('od -A x -t x1z of whole 16-byte lines', async () => {
    // four pings, 16 bytes: every line of the dump is full
    const pings = Buffer.from('03000001030000020300000303000004', 'hex')
    const run = await stmpcat(['decode', '--json'], odX1z(pings))
    expect(run.code).toBe(0)
    expect(ndjson(run.stdout).frames.map((f) => [f.kind, f.id, f.offset])).toEqual([['ping', 1, 0], ['ping', 2, 4], ['ping', 3, 8], ['ping', 4, 12]])
  })

  it('plain hex and base64 without --input', async () => {
    const v = vectors.find((x) => x.name === 'close') as Vector
    expectVector(v, await stmpcat(['decode', '--json'], vectorBytes(v).toString('hex')))
    expectVector(v, await stmpcat(['decode', '--json'], vectorBytes(v).toString('base64')))
  })
})

describe.concurrent('decode: usage errors exit 2', () => {
  it('tcpdump -X text is refused with a hint to capture a pcap, not read as 11 bogus frames (issue 18 point 24)', async () => {
    const text = [
      '12:34:56.789012 IP 127.0.0.1.40000 > 127.0.0.1.5000: Flags [P.], seq 1:12, ack 1, win 512, length 11',
      '\t0x0000:  4500 003f 1c46 4000 4006 2070 7f00 0001  E..?.F@.@..p....',
      '\t0x0010:  7f00 0001 9c40 1388 0000 0001 0000 0001  .....@..........',
      '',
    ].join('\n')
    for (const args of [['decode'], ['decode', '--input', 'hex']]) {
      const run = await stmpcat(args, text)
      expect(run.code).toBe(2)
      expect(run.stdout).toBe('')
      expect(run.stderr).toMatch(/^stmpcat: BAD_INPUT: line 2 column 1: this looks like `tcpdump -x` \/ `-X` output: .*`tcpdump -w FILE`/)
    }
  })

  it('--threads: help, code and docs give the same default (one per core, up to 4; issue 18 point 24)', async () => {
    const help = await stmpcat(['decode', '--help'])
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('default: one per core, up to 4, for a file of 16 MiB or more, else 1')
    expect(readFileSync(join(ROOT, 'src/lib/cli/decode-capture.ts'), 'utf8')).toContain('Math.min(availableParallelism(), 4)')
    expect(readFileSync(join(ROOT, 'docs/decode.md'), 'utf8').replace(/\s+/g, ' ')).toContain('decoded on one thread per core, up to 4')
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('one thread per core, up to 4')
    expect(readFileSync(join(ROOT, 'docs/decode.md'), 'utf8')).toContain("tcpdump -U -i lo -w - 'tcp port 5000' | stmpcat decode")
  })

  it('an odd number of hex digits is BAD_INPUT with its line and column, not TRUNCATED (issue 18 point 12)', async () => {
    for (const [input, column] of [['03 00 00 0\n', 10], ['030000070\n', 9], ['03000007\n0\n', 1]] as const) {
      const json = await stmpcat(['decode', '--json'], input)
      expect(json.code).toBe(2)
      expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'BAD_INPUT', message: expect.stringContaining(`column ${column}: odd number of hex digits`) } })
      const table = await stmpcat(['decode'], input)
      expect(table.code).toBe(2)
      expect(table.stderr).toMatch(/^stmpcat: BAD_INPUT: line \d+ column \d+: odd number of hex digits: this digit has no partner \(for base64 or raw bytes, give --input base64 or --input raw\)\n$/)
    }
    // Hex digits alone that are valid base64 stay base64, as docs/decode.md says.
    expect((await stmpcat(['decode', '--json'], 'AwAABw\n')).code).toBe(0)
  })

  it('a missing file is BAD_FILE, as a JSON envelope with --json', async () => {
    const run = await stmpcat(['decode', '--json', join(tmp, 'no-such-file.hex')])
    expect(run.code).toBe(2)
    expect(JSON.parse(run.stdout)).toMatchObject({ error: { code: 'BAD_FILE' } })
  })

  it('a missing file is BAD_FILE on stderr without --json', async () => {
    const run = await stmpcat(['decode', join(tmp, 'no-such-file.hex')])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain('BAD_FILE')
  })

  it('a bad flag value', async () => {
    const runs = await Promise.all([
      stmpcat(['decode', '--json', '--input', 'ebcdic'], '03000007'),
      stmpcat(['decode', '--json', '--max-frame', 'lots'], '03000007'),
      stmpcat(['decode', '--json', '--format', 'text'], 'pAAE'),
      stmpcat(['decode', '--json', '--transport', 'websocket', '--handshake', 'client'], '03000007'),
    ])
    for (const run of runs) {
      expect(run.code).toBe(2)
      expect((JSON.parse(run.stdout) as { error: { code: string } }).error.code).toMatch(/^(USAGE|BAD_FLAG)$/)
    }
  })
})

describe.concurrent('decode: the table', () => {
  it('prints one row per frame and per error, no colour when not a TTY, a summary on stderr', async () => {
    const run = await stmpcat(['decode', '--input', 'hex'], '03000007 0d1000016e6f2e6e65776c696e65 0e200002612e620a7b2278223a317d')
    expect(run.code).toBe(5)
    expect(run.stdout).not.toContain('\u001b[')
    const rows = run.stdout.split('\n').filter((l) => /^│/.test(l))
    const kinds = rows.map((r) => r.split('│')[3]?.trim()).filter((k) => k !== '')
    expect(kinds).toEqual(['kind', 'ping', 'error', 'push'])
    expect(run.stdout).toContain('NO_ACTION_END')
    expect(run.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('colours with FORCE_COLOR even on a pipe', async () => {
    const child = await new Promise<Run>((resolveRun) => {
      const p = spawn(process.execPath, [BIN, 'decode', '--input', 'hex'], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: '1', NO_COLOR: undefined } })
      let stdout = ''
      p.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
      p.on('close', (code) => resolveRun({ code, stdout, stderr: '' }))
      p.stdin.end('03000007')
    })
    expect(child.code).toBe(0)
    expect(child.stdout).toContain('\u001b[')
  })
})

/**
 * Issue 18 point 7: a capture that stops while connections are open (`tcpdump -c N`, a capture
 * cut short) has a gap at its end. docs/decode.md: no protocol error, exit 0; the frame (or
 * message) it cut is an `undecodable` line with `"lost": "end"`. A FIN inside a frame is the
 * peer's doing: TRUNCATED, exit 5.
 */
describe.concurrent('decode: a capture that ends inside a frame', () => {
  const stream = { format: 'binary', framing: 'stream', serverLatency: false } as const
  /** A TCP connection: handshake, one whole ping, then a 200 KB request in 64 KiB fragments, the last `cut` bytes of it not captured. */
  function cutStream(cut: number, fin = false): TcpPacketOut[] {
    const conv = new TcpConversation({ client: { ip: '10.0.0.1', port: 40000 }, server: { ip: '10.0.0.2', port: 5000 } })
    const payload = Buffer.from(JSON.stringify('z'.repeat(200_000)))
    const frames = Buffer.concat(encodeFragmented({ kind: 'request', id: 4, action: 'blob.put', payload, follow: false, fin: false }, stream))
    const packets = [
      ...conv.handshake(),
      ...conv.send('client', encodeHandshakeRequest({ url: '/', headers: {} })),
      ...conv.send('server', encodeHandshakeResponse({ status: 200, message: 'OK' })),
      ...conv.send('client', encodeFrame({ kind: 'ping', id: 1 })),
      ...conv.send('client', frames.subarray(0, frames.length - cut)),
    ]
    return fin ? [...packets, ...conv.close()] : packets
  }
  function write(name: string, packets: TcpPacketOut[]): string {
    const file = join(tmp, name)
    writeFileSync(file, buildCapture({ format: 'pcap' }, packets))
    return file
  }

  it('a stream frame cut: an undecodable line (lost: end, kind, id, missing), no error, exit 0; with --messages the message so far too', async () => {
    const file = write('cut-stream.pcap', cutStream(1000))
    const run = await stmpcat(['decode', file, '--json'])
    expect(run.stderr).toMatch(/no errors, no gaps, the capture ends inside a frame \(shown as undecodable, no error\)/)
    expect(run.code).toBe(0)
    const lines = ndjson(run.stdout).all
    expect(lines.filter((l) => l.kind === 'request')).toHaveLength(3)
    const cut = lines.filter((l) => l.undecodable !== undefined).map((l) => l.undecodable as Record<string, unknown>)
    expect(cut).toEqual([expect.objectContaining({ direction: 'client', lost: 'end', kind: 'request', id: 4, missing: 1000 })])
    expect(cut[0].bytes).toBeGreaterThan(0)

    const joined = await stmpcat(['decode', file, '--json', '--messages'])
    expect(joined.code).toBe(0)
    const lost = ndjson(joined.stdout).all.filter((l) => l.undecodable !== undefined).map((l) => l.undecodable as Record<string, unknown>)
    expect(lost).toEqual([
      expect.objectContaining({ lost: 'end', kind: 'request', id: 4, fragments: 3 }),
      expect.objectContaining({ lost: 'end', kind: 'request', id: 4, missing: 1000 }),
    ])

    const table = await stmpcat(['decode', file])
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/undecodable .*a frame the capture ends inside, 1000 more bytes not captured; no protocol error/)
  })

  it('--messages: a connection closed (FIN) before a fragmented message\'s last fragment reports the fragments it held (lost: close), not nothing', async () => {
    const conv = new TcpConversation({ client: { ip: '10.0.0.1', port: 40002 }, server: { ip: '10.0.0.2', port: 5000 } })
    const payload = Buffer.from(JSON.stringify('q'.repeat(200_000)))
    const frames = encodeFragmented({ kind: 'request', id: 9, action: 'blob.put', payload, follow: false, fin: false }, stream)
    expect(frames.length).toBeGreaterThan(2)
    const file = write('fin-mid-message.pcap', [
      ...conv.handshake(),
      ...conv.send('client', encodeHandshakeRequest({ url: '/', headers: {} })),
      ...conv.send('server', encodeHandshakeResponse({ status: 200, message: 'OK' })),
      // Every fragment but the last, whole, then the connection ends.
      ...conv.send('client', Buffer.concat(frames.slice(0, -1))),
      ...conv.close(),
    ])
    const joined = await stmpcat(['decode', file, '--json', '--messages'])
    const lost = ndjson(joined.stdout).all.filter((l) => l.undecodable !== undefined).map((l) => l.undecodable as Record<string, unknown>)
    expect(lost).toEqual([expect.objectContaining({ direction: 'client', lost: 'close', kind: 'request', id: 9, fragments: frames.length - 1 })])
    const table = await stmpcat(['decode', file, '--messages'])
    expect(table.stdout).toMatch(new RegExp(`${frames.length - 1} fragments of a message the connection closed before its last one`))
  })

  it('a LENGTH cut: the bytes held, no missing count', async () => {
    const conv = new TcpConversation({ client: { ip: '10.0.0.1', port: 40000 }, server: { ip: '10.0.0.2', port: 5000 } })
    const big = encodeFrame({ kind: 'request', id: 2, action: 'a.b', payload: Buffer.alloc(300, 0x61), follow: false, fin: false }, stream)
    const file = write('cut-length.pcap', [...conv.handshake(), ...conv.send('client', encodeHandshakeRequest({ url: '/', headers: {} })), ...conv.send('client', big.subarray(0, 1))])
    const run = await stmpcat(['decode', file, '--json'])
    expect(run.code).toBe(0)
    const cut = ndjson(run.stdout).all.filter((l) => l.undecodable !== undefined).map((l) => l.undecodable as Record<string, unknown>)
    expect(cut).toHaveLength(1)
    expect(cut[0]).toMatchObject({ lost: 'end', bytes: 1 })
    expect(cut[0].missing).toBeUndefined()
  })

  it('a WebSocket message cut: an undecodable line (lost: end), exit 0', async () => {
    const conv = new TcpConversation({ client: { ip: '10.0.0.1', port: 40001 }, server: { ip: '10.0.0.2', port: 8080 } })
    const message = wsFrame({ opcode: 2, payload: encodeFrame({ kind: 'request', id: 3, action: 'ws.a', payload: Buffer.alloc(5000, 0x62), follow: false, fin: false }, { ...stream, framing: 'websocket' }), mask: MASK })
    const file = write('cut-ws.pcap', [
      ...conv.handshake(), ...conv.send('client', upgradeRequest('/')), ...conv.send('server', upgradeResponse()), ...conv.send('client', message.subarray(0, 3000)),
    ])
    const run = await stmpcat(['decode', file, '--json'])
    expect(run.code).toBe(0)
    const cut = ndjson(run.stdout).all.filter((l) => l.undecodable !== undefined).map((l) => l.undecodable as Record<string, unknown>)
    expect(cut).toEqual([expect.objectContaining({ direction: 'client', lost: 'end', offset: upgradeRequest('/').length, bytes: 3000 })])
    expect(run.stderr).toMatch(/the capture ends inside a frame/)
  })

  it('a connection the peer closed (FIN) inside a frame: TRUNCATED, exit 5, as before', async () => {
    const run = await stmpcat(['decode', write('fin-inside.pcap', cutStream(1000, true)), '--json'])
    expect(run.code).toBe(5)
    expect(ndjson(run.stdout).errors.map((e) => e.code)).toEqual(['TRUNCATED'])
  })
})

/** The CLI with a terminal as its stdin (and stdout), through util-linux `script`: what it prints, CRs dropped. */
function onTerminal(args: string[], typed: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolveRun, reject) => {
    const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined } })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    child.on('error', reject)
    child.on('close', (code) => resolveRun({ code, out: out.replace(/\r/g, '') }))
    child.stdin.end(typed)
  })
}

describe.concurrent('decode: readability (issue 18 point 23)', () => {
  it('the table is the result: on stdout for byte input and captures, the summary alone on stderr, as README and docs say (issue 18 point 16)', async () => {
    const bytes = await stmpcat(['decode'], '03000007\n')
    expect(bytes.stdout).toMatch(/offset .* payload/)
    expect(bytes.stdout).toMatch(/ping/)
    expect(bytes.stderr).toBe('stmpcat decode: 1 frame, no protocol errors in 4 bytes of hex input\n')
    const capture = await stmpcat(['decode', join(ROOT, 'test/fixtures/captures/tcp.pcap')])
    expect(capture.stdout).toMatch(/^time +connection +dir +kind/)
    expect(capture.stderr).toMatch(/^stmpcat decode: [^\n]+\n$/)
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ')
    expect(readme).toContain("One table is a result: `decode`'s table of frames goes to stdout")
    expect(readFileSync(join(ROOT, 'docs/decode.md'), 'utf8').replace(/\s+/g, ' ')).toContain('The table is decode\'s result, so it goes to stdout')
  })

  it('on a terminal with no FILE, says on stderr that it reads stdin and how to end it', async () => {
    const run = await onTerminal(['decode', '--json'], '03000007\n')
    expect(run.code).toBe(0)
    expect(run.out).toContain('stmpcat decode: reading stdin: paste hex, base64 or a dump, then Ctrl-D on a line of its own (or give a FILE: stmpcat decode FILE)\n')
    expect(run.out).toContain('{"kind":"ping","id":7,"offset":0,"length":4}')
    // Piped stdin: no such line.
    const piped = await stmpcat(['decode', '--json'], '03000007\n')
    expect(piped.stderr).toBe('stmpcat decode: 1 frame, no protocol errors in 4 bytes of hex input\n')
  })

  it('a client stream decoded without --handshake client: the RESERVED_BIT (head 0x2f) error says to give it', async () => {
    const hint = 'the input starts like a client handshake (0x2f is "/", the start of its URL): give --handshake client (--handshake server for the server\'s side)'
    const json = await stmpcat(['decode', '--json'], '052f3f613d31 03000007\n')
    expect(json.code).toBe(5)
    expect(ndjson(json.stdout).errors[0]).toEqual({ code: 'RESERVED_BIT', message: `reserved head bit set (head 0x2f); ${hint}`, offset: 0 })
    expect(json.stderr).toContain(`in 10 bytes of hex input; ${hint}\n`)
    const table = await stmpcat(['decode'], '052f3f613d31\n')
    expect(table.stderr).toContain(hint)
    // With the flag it decodes; another bad first byte gets no hint.
    expect((await stmpcat(['decode', '--handshake', 'client', '--json'], '052f3f613d31 03000007\n')).code).toBe(0)
    const other = await stmpcat(['decode', '--json'], '0531\n')
    expect(other.stdout).not.toContain('--handshake')
  })
})
