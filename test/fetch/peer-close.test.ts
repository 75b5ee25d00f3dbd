import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { encodeFrame, encodeHandshakeResponse } from '../../src/lib/codec/index.js'
import { runCli, spawnCli, startServe } from '../helpers/cli.js'
import { jsonErrorCode, startRawServer, tempDir } from './helpers.js'

/**
 * Issue 18 point 19 (and the first part of point 12): what ends a session is reported as what it
 * is. A protocol error after the handshake is that protocol error (exit 5), not a dropped
 * connection; a Close from the server is its close code and reason (TOO_LARGE, exit 5, for
 * 1009), never a status answer; a Close during a request after the handshake does not say the
 * handshake was unfinished. Misbehaving servers are raw net.Servers.
 */
const HANDSHAKE_OK = encodeHandshakeResponse({ status: 200, message: 'OK' })
const STREAM = { format: 'binary' as const, framing: 'stream' as const, serverLatency: false }
const close = (status: number, message: string) => encodeFrame({ kind: 'close', status, message }, STREAM)

describe('fetch reports how the server ended the session', { timeout: 120_000 }, () => {
  it.each([
    ['a reserved bit, right behind the handshake answer', 'RESERVED_BIT', '05900001780a', true],
    ['a reserved bit, after the request', 'RESERVED_BIT', '05900001780a', false],
    ['KIND 5, after the request', 'BAD_KIND', '03500001', false],
  ])('bytes that are not STMP after a valid handshake answer (%s): exit 5 with the protocol code', async (_name, code, hex, together) => {
    const raw = await startRawServer((socket) => {
      socket.once('data', () => {
        if (together) {
          socket.write(Buffer.concat([HANDSHAKE_OK, Buffer.from(hex, 'hex')]))
          return
        }
        socket.write(HANDSHAKE_OK)
        socket.once('data', () => socket.write(Buffer.from(hex, 'hex')))
      })
    })
    const run = await runCli(['fetch', raw.url, 'a.b', '{}', '--json'])
    expect([run.code, jsonErrorCode(run.stdout)]).toEqual([5, code])
  })

  it.each([
    ['1009 naming TOO_LARGE', 1009, 'TOO_LARGE at byte 17: frame of 5009 bytes is over the 1024-byte limit', 5, 'TOO_LARGE'],
    ['1009 with a reason of its own', 1009, 'too big', 5, 'TOO_LARGE'],
    ['1011', 1011, 'internal error', 3, 'CONNECTION_CLOSED'],
  ])('a Close from the server instead of the response (%s) is reported as that close', async (_name, status, message, exit, code) => {
    const raw = await startRawServer((socket) => {
      socket.once('data', () => {
        socket.write(HANDSHAKE_OK)
        socket.once('data', () => socket.write(close(status, message)))
      })
    })
    const run = await runCli(['fetch', raw.url, 'a.b', '{}', '--json'])
    expect([run.code, jsonErrorCode(run.stdout)]).toEqual([exit, code])
    expect((JSON.parse(run.stdout) as { error: { message: string } }).error.message).toContain(String(status))
  })

  it('over serve --max-frame: the 413 and Close 1009 are TOO_LARGE, exit 5, for fetch and push, not STATUS 413', async () => {
    const serve = await startServe(['tcp://127.0.0.1:0', '--max-frame', '1k'])
    try {
      const big = JSON.stringify('x'.repeat(5000))
      const fetched = await runCli(['fetch', serve.urls[0], 'a.b', big, '--json'])
      expect([fetched.code, jsonErrorCode(fetched.stdout)]).toEqual([5, 'TOO_LARGE'])
      const plain = await runCli(['fetch', serve.urls[0], 'a.b', big])
      expect(plain.code).toBe(5)
      expect(plain.stderr).toMatch(/^stmpcat: TOO_LARGE: .*1009/)
      const pushed = await runCli(['push', serve.urls[0], 'a.b', big, '--json'])
      expect([pushed.code, jsonErrorCode(pushed.stdout)]).toEqual([5, 'TOO_LARGE'])
      // A 413 that a handler gives is still a status answer: exit 6.
      const small = await runCli(['fetch', serve.urls[0], 'a.b', '"ok"', '--json'])
      expect(small.code).toBe(0)
    } finally {
      await serve.stop()
    }
  })

  it('a handler status 413 with no close stays STATUS, exit 6', async () => {
    const routes = join(tempDir(), 'routes.yaml')
    writeFileSync(routes, 'too.big:\n  status: 413\n  reply: "no room"\n')
    const serve = await startServe(['tcp://127.0.0.1:0', '--routes', routes])
    try {
      const run = await runCli(['fetch', serve.urls[0], 'too.big', '{}', '--json'])
      expect(run.code).toBe(6)
      expect(JSON.parse(run.stdout)).toMatchObject({ status: 413 })
    } finally {
      await serve.stop()
    }
  })

  it('a server shutdown during a slow handler: CONNECTION_CLOSED with the 1001, not "before the handshake finished"', async () => {
    const routes = join(tempDir(), 'routes.yaml')
    writeFileSync(routes, 'slow:\n  delay: 30s\n  reply: done\n')
    const serve = await startServe(['tcp://127.0.0.1:0', '--routes', routes, '--drain-timeout', '300ms'])
    const opened = new Promise<void>((resolve) => {
      serve.child.stderr.on('data', () => { if (/#1 open/.test(serve.stderr())) resolve() })
    })
    const fetch = spawnCli(['fetch', serve.urls[0], 'slow', '{}', '--json'])
    let stdout = ''
    fetch.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    const exited = new Promise<number | null>((resolve) => fetch.on('close', resolve))
    await opened
    // The handshake is done (the server logged the open); the request waits in the handler.
    await serve.stop('SIGTERM')
    expect(await exited).toBe(3)
    const error = (JSON.parse(stdout) as { error: { code: string; message: string } }).error
    expect(error.code).toBe('CONNECTION_CLOSED')
    expect(error.message).toContain('1001')
    expect(error.message).not.toContain('handshake')
  })
})
