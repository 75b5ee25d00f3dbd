import { spawn } from 'node:child_process'
import { openSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { buildCapture, TcpConversation } from '../helpers/pcap-writer.js'
import { encodeFrame, encodeHandshakeRequest, encodeHandshakeResponse } from '../../src/lib/codec/index.js'
import { BIN, ROOT, spawnCli, startServe } from '../helpers/cli.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * When stdout or stderr fails (bin/run.js, the same for every command): a full disk is
 * OUTPUT_FAILED on stderr and exit 2, with no stack trace; a reader that goes away (EPIPE, `| head`)
 * ends the command quietly with exit 141, as a command killed by SIGPIPE (docs/exit-codes.md).
 */

const PIPE_CLOSED = 141

const CAPTURE = join(ROOT, 'test/fixtures/captures/tcp.pcap')

function run(args: string[], stdout: number | 'pipe', stdin = ''): Promise<{ code: number | null; stderr: string; child: ReturnType<typeof spawn> }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['pipe', stdout, 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.stdin?.end(stdin)
    if (stdout === 'pipe') {
      // Read one chunk, then go away, as `| head -c 1` does.
      child.stdout?.once('data', () => child.stdout?.destroy())
    }
    child.on('close', (code) => resolve({ code, stderr, child }))
  })
}

describe('stdout failures', () => {
  it('a full disk (/dev/full) is OUTPUT_FAILED, exit 2, one line on stderr, for capture, parallel and hex decoding', async () => {
    for (const [args, stdin] of [
      [['decode', CAPTURE, '--json'], ''],
      [['decode', CAPTURE, '--json', '--threads', '2'], ''],
      [['decode', '--json'], '03 00 00 07\n'],
    ] as const) {
      const { code, stderr } = await run([...args], openSync('/dev/full', 'w'), stdin)
      expect(code).toBe(2)
      expect(stderr).toContain('stmpcat: OUTPUT_FAILED: cannot write to stdout: ENOSPC')
      expect(stderr).not.toMatch(/\n\s+at /)
    }
  }, 60_000)

  it('a reader that goes away after the first chunk ends the command quietly, exit 141', async () => {
    // 200,000 Ping frames: megabytes of NDJSON, far more than one pipe buffer, so writes hit EPIPE.
    const { code, stderr } = await run(['decode', '--json'], 'pipe', '03 00 00 07\n'.repeat(200_000))
    expect(code).toBe(PIPE_CLOSED)
    expect(stderr).not.toContain('OUTPUT_FAILED')
    expect(stderr).not.toMatch(/\n\s+at /)
  }, 60_000)
})

/** A capture of one connection with 4,000 requests: ~1.5 MB of NDJSON, ~0.5 MB of table, past any pipe buffer. */
function bigCapture(): string {
  const conv = new TcpConversation({ client: { ip: '10.0.0.1', port: 40000 }, server: { ip: '10.0.0.2', port: 5000 } })
  const packets = [...conv.handshake(), ...conv.send('client', encodeHandshakeRequest({ url: '/', headers: {} })), ...conv.send('server', encodeHandshakeResponse({ status: 200, message: 'OK' }))]
  for (let id = 1; id <= 4000; id++) packets.push(...conv.send('client', encodeFrame({ kind: 'request', id, action: 'a.b', payload: Buffer.from(`{"n":${id}}`), follow: false, fin: false })))
  const file = join(dir, 'big.pcap')
  writeFileSync(file, buildCapture({ format: 'pcap' }, packets))
  return file
}
const dir = tempDir('stmpcat-output-')
let capture: string | undefined

/** Runs `SHELL_PIPELINE` in bash with $STMPCAT the CLI and $CAPTURE the big capture; returns stmpcat's exit status (PIPESTATUS) and bash's stderr. */
function pipeline(script: string): Promise<{ code: number; stderr: string }> {
  capture ??= bigCapture()
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `${script}; exit \${PIPESTATUS[0]}`], {
      cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1', STMPCAT: `${process.execPath} ${BIN}`, CAPTURE: capture },
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }))
  })
}

describe('a closed stdout or stderr: a quiet stop, exit 141, for every command (issue 18 point 18, issue 12 point 8)', () => {
  it('decode through a real `| head`: the table, --json, --threads 2, from stdin, and 2>&1', async () => {
    for (const script of [
      '$STMPCAT decode "$CAPTURE" | head -3 >/dev/null',
      '$STMPCAT decode "$CAPTURE" --json | head -3 >/dev/null',
      '$STMPCAT decode "$CAPTURE" --json --threads 2 | head -3 >/dev/null',
      '$STMPCAT decode --json < "$CAPTURE" | head -3 >/dev/null',
      '$STMPCAT decode "$CAPTURE" --json 2>&1 | head -5 >/dev/null',
    ]) {
      const { code, stderr } = await pipeline(script)
      // Not BAD_FILE (exit 2), not an unhandled 'error' event (exit 1), not 0 as if all was read.
      expect({ script, code, stderr }).toEqual({ script, code: PIPE_CLOSED, stderr: '' })
    }
  }, 180_000)

  it('decode with its stderr reader gone: exit 141, not an unhandled error event', async () => {
    capture ??= bigCapture()
    const child = spawn(process.execPath, [BIN, 'decode', capture, '--json'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr.destroy()
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect(code).toBe(PIPE_CLOSED)
  }, 60_000)

  it('fetch of a 1 MB response whose reader goes away after the first chunk: exit 141, nothing on stderr', async () => {
    const serve = await startServe(['tcp://127.0.0.1:0'])
    try {
      const data = join(dir, 'big.json')
      writeFileSync(data, JSON.stringify('x'.repeat(1_000_000)))
      for (const extra of [[], ['--json']]) {
        const child = spawnCli(['fetch', serve.urls[0], 'any.thing', '-d', `@${data}`, ...extra])
        let stderr = ''
        child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
        child.stdin.end()
        child.stdout.once('data', () => child.stdout.destroy())
        const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
        expect({ extra, code, stderr }).toEqual({ extra, code: PIPE_CLOSED, stderr: '' })
      }
    } finally {
      await serve.stop()
    }
  }, 120_000)
})
