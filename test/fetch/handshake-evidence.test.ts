import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { startRawServer, startServer } from './helpers.js'

/**
 * Issue 12 point 5 (the part without dialects), asked for with issue 18: when a stream
 * connection ends before the handshake finishes, or the server's bytes are not a handshake
 * answer, the error shows the first bytes received (a printable preview and hex, at most 64),
 * says what they look like, and shows no WebSocket close code (1006) on a stream.
 */
async function failure(url: string): Promise<{ exit: number | null; code: string; message: string }> {
  const run = await runCli(['fetch', url, 'a', '1', '--json', '--timeout', '20s'])
  const { code, message } = (JSON.parse(run.stdout) as { error: { code: string; message: string } }).error
  return { exit: run.code, code, message }
}

describe('a handshake that fails shows what the server sent', { timeout: 120_000 }, () => {
  it('tcp:// to a ws:// listener: the HTTP answer, as text and hex, and the hint to use ws://', async () => {
    const { url } = await startServer('ws://127.0.0.1:0/')
    const port = new URL(url).port
    const f = await failure(`tcp://127.0.0.1:${port}`)
    expect([f.exit, f.code]).toEqual([3, 'CONNECTION_CLOSED'])
    expect(f.message).toContain('"HTTP/1.1 400 Bad Request\\r\\n')
    expect(f.message).toContain('hex 48 54 54 50 2f 31 2e 31')
    expect(f.message).toContain('ws://')
    expect(f.message).not.toContain('1006')
  })

  it('bytes that are not a handshake answer: the protocol code, and the first 64 of them', async () => {
    const garbage = Buffer.concat([Buffer.from('8080808001', 'hex'), Buffer.alloc(95, 0x41)])
    const raw = await startRawServer((socket) => socket.once('data', () => socket.write(garbage)))
    const f = await failure(raw.url)
    expect([f.exit, f.code]).toEqual([5, 'BAD_LENGTH'])
    expect(f.message).toContain('the first 64 of 100 bytes')
    const hex = /\(hex ([0-9a-f ]+)\)/.exec(f.message)?.[1].split(' ')
    expect(hex).toEqual(garbage.subarray(0, 64).toString('hex').match(/../g))
  })

  it('a server that ends the connection at once: "nothing was received", no 1006', async () => {
    const raw = await startRawServer((socket) => socket.once('data', () => socket.end()))
    const f = await failure(raw.url)
    expect([f.exit, f.code]).toEqual([3, 'CONNECTION_CLOSED'])
    expect(f.message).toContain('before the handshake finished')
    expect(f.message).toContain('nothing was received')
    expect(f.message).not.toContain('1006')
  })
})
