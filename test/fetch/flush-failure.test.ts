import net from 'node:net'
import { describe, expect, it } from 'vitest'
import { encodeHandshakeRequest, encodeHandshakeResponse } from '../../src/lib/codec/index.js'
import { runCli, startServe } from '../helpers/cli.js'
import { jsonErrorCode, startRawServer } from './helpers.js'

/**
 * Issue 18 point 1, the other half: when the frames queued before the Close cannot all be sent
 * (the peer stops reading), push, connect and serve exit non-zero (CONNECTION_CLOSED, exit 3)
 * instead of 0. The peer that stops reading is a raw socket.
 */
const BIG = 16 * 1024 * 1024

/** A raw server that answers the handshake with 200 and then reads nothing more. */
function deafServer() {
  return startRawServer((socket) => {
    socket.once('data', () => {
      socket.write(encodeHandshakeResponse({ status: 200, message: 'OK' }))
      socket.pause()
    })
  })
}

describe('a close that cannot send what was queued before it fails the run', { timeout: 180_000 }, () => {
  it('push: exit 3 CONNECTION_CLOSED when the server stops reading in the middle of the push', async () => {
    const raw = await deafServer()
    const run = await runCli(['push', raw.url, 'big', '-d', '@-', '-t', 'raw', '--json'], { stdin: Buffer.alloc(BIG, 0x61) })
    expect(run.code).toBe(3)
    expect(jsonErrorCode(run.stdout)).toBe('CONNECTION_CLOSED')
  })

  it('connect: a push line the server never reads is exit 3, with the code on stderr', async () => {
    const raw = await deafServer()
    const line = `${JSON.stringify({ push: true, action: 'big', payload: 'x'.repeat(BIG) })}\n`
    const run = await runCli(['connect', raw.url], { stdin: line })
    expect(run.code).toBe(3)
    expect(run.stderr).toMatch(/CONNECTION_CLOSED/)
  })

  it('serve: a shutdown that cannot send a client its push is exit 3, and the close line counts the bytes', async () => {
    const serve = await startServe(['tcp://127.0.0.1:0', '--drain-timeout', '1s'])
    const port = Number(new URL(serve.urls[0]).port)
    const client = net.connect(port, '127.0.0.1')
    client.on('error', () => undefined)
    await new Promise((r) => client.once('connect', r))
    client.write(encodeHandshakeRequest({ url: '/?stmp_version=3', headers: {} }))
    await new Promise((r) => client.once('data', r))
    // The handshake is answered: push a message too large for the socket buffers; the client
    // stops reading at its first bytes.
    client.once('data', () => client.pause())
    const gotData = new Promise((r) => client.once('data', r))
    serve.child.stdin.write(`${JSON.stringify({ action: 'news', payload: 'y'.repeat(BIG), to: 'all' })}\n`)
    await gotData
    const code = await serve.stop('SIGTERM')
    client.destroy()
    expect(code).toBe(3)
    expect(serve.stderr()).toMatch(/bytes not sent/)
    expect(serve.stderr()).toMatch(/CONNECTION_CLOSED/)
  })
})
