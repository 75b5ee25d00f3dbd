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

/** fetch URL fails with CONNECT_FAILED, exit 3, a message with none of the library's raw text and every one of `says`. */
async function expectDialError(url: string, ...says: string[]): Promise<void> {
  const run = await runCli(['fetch', url, 'a', '1', '--json', '--timeout', '20s'])
  const error = (JSON.parse(run.stdout) as { error: { code: string; message: string } }).error
  expect([run.code, error.code], url).toEqual([3, 'CONNECT_FAILED'])
  expect(error.message).not.toMatch(RAW)
  for (const text of says) expect(error.message).toContain(text)
}

describe('dialling the wrong kind of listener', { timeout: 120_000 }, () => {
  it('tls:// and wss:// to a plain TCP listener: "did not answer TLS", try tcp:// / ws://', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0')
    const port = new URL(url).port
    await expectDialError(`tls://127.0.0.1:${port}`, 'did not answer TLS', `try tcp://127.0.0.1:${port}`)
    await expectDialError(`wss://127.0.0.1:${port}/stmp`, `try ws://127.0.0.1:${port}/stmp`)
  })

  it('ws:// to a TCP STMP listener: "did not answer HTTP", try tcp://', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0')
    const port = new URL(url).port
    await expectDialError(`ws://127.0.0.1:${port}/`, 'did not answer HTTP', `try tcp://127.0.0.1:${port}`)
  })

  it('tls:// to a ws:// (plain HTTP) listener: "did not answer TLS"', async () => {
    const { url } = await startServer('ws://127.0.0.1:0/')
    const port = new URL(url).port
    await expectDialError(`tls://127.0.0.1:${port}`, 'did not answer TLS')
  })
})
