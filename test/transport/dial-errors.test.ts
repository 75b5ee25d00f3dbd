import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { startServer } from '../fetch/helpers.js'

/**
 * Issue 18 point 21: dialling a listener of another transport gives a message that says what
 * happened and what to try (CONNECT_FAILED, exit 3), never the library's raw text (OpenSSL's
 * `...:SSL routines:...:wrong version number`, llhttp's `Parse Error: Expected HTTP/...`).
 * Real listeners on 127.0.0.1, the built CLI.
 */
const RAW = /SSL routines|Parse Error|openssl|HPE_/i

async function dialError(url: string): Promise<{ code: number | null; error: { code: string; message: string } }> {
  const run = await runCli(['fetch', url, 'a', '1', '--json', '--timeout', '20s'])
  return { code: run.code, error: (JSON.parse(run.stdout) as { error: { code: string; message: string } }).error }
}

describe('dialling the wrong kind of listener', { timeout: 120_000 }, () => {
  it('tls:// and wss:// to a plain TCP listener: "did not answer TLS", try tcp:// / ws://', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0')
    const port = new URL(url).port
    const tls = await dialError(`tls://127.0.0.1:${port}`)
    expect([tls.code, tls.error.code]).toEqual([3, 'CONNECT_FAILED'])
    expect(tls.error.message).not.toMatch(RAW)
    expect(tls.error.message).toContain('did not answer TLS')
    expect(tls.error.message).toContain(`try tcp://127.0.0.1:${port}`)
    const wss = await dialError(`wss://127.0.0.1:${port}/stmp`)
    expect([wss.code, wss.error.code]).toEqual([3, 'CONNECT_FAILED'])
    expect(wss.error.message).not.toMatch(RAW)
    expect(wss.error.message).toContain(`try ws://127.0.0.1:${port}/stmp`)
  })

  it('ws:// to a TCP STMP listener: "did not answer HTTP", try tcp://', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0')
    const port = new URL(url).port
    const ws = await dialError(`ws://127.0.0.1:${port}/`)
    expect([ws.code, ws.error.code]).toEqual([3, 'CONNECT_FAILED'])
    expect(ws.error.message).not.toMatch(RAW)
    expect(ws.error.message).toContain('did not answer HTTP')
    expect(ws.error.message).toContain(`try tcp://127.0.0.1:${port}`)
  })

  it('tls:// to a ws:// (plain HTTP) listener: "did not answer TLS"', async () => {
    const { url } = await startServer('ws://127.0.0.1:0/')
    const port = new URL(url).port
    const tls = await dialError(`tls://127.0.0.1:${port}`)
    expect([tls.code, tls.error.code]).toEqual([3, 'CONNECT_FAILED'])
    expect(tls.error.message).not.toMatch(RAW)
    expect(tls.error.message).toContain('did not answer TLS')
  })
})
