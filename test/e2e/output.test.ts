import { spawn } from 'node:child_process'
import { openSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { BIN, ROOT } from '../helpers/cli.js'

/**
 * When stdout fails (bin/run.js): a full disk is OUTPUT_FAILED on stderr and exit 2, with no
 * stack trace; a reader that goes away (EPIPE) ends the command quietly.
 */

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

  it('a reader that goes away after the first chunk ends the command quietly, exit 0', async () => {
    // 200,000 Ping frames: megabytes of NDJSON, far more than one pipe buffer, so writes hit EPIPE.
    const { code, stderr } = await run(['decode', '--json'], 'pipe', '03 00 00 07\n'.repeat(200_000))
    expect(code).toBe(0)
    expect(stderr).not.toContain('OUTPUT_FAILED')
    expect(stderr).not.toMatch(/\n\s+at /)
  }, 60_000)
})
