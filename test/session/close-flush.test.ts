import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { type AnyFrame, StreamDecoder, encodeFrame, encodeHandshakeResponse } from '../../src/lib/codec/index.js'
import { type Session, connect } from '../../src/lib/session/index.js'

/**
 * Issue 18 point 1: a Close must go out behind every frame queued before it (all fragments of a
 * large message, through the socket's backpressure), and a close that could not send them says so.
 * The peer is a raw net.Server that decodes what it gets with the codec.
 */

const servers: net.Server[] = []
const clients: Session[] = []
afterEach(() => {
  for (const c of clients.splice(0)) c.transport.destroy()
  for (const s of servers.splice(0)) s.close()
})

const STREAM = { format: 'binary' as const, framing: 'stream' as const, serverLatency: false }

/** A raw STMP peer: answers the handshake with 200, then hands every socket and decoded frame to `onFrame`. */
async function rawPeer(onFrame: (frame: AnyFrame, socket: net.Socket) => void, onAccept?: (socket: net.Socket) => void): Promise<string> {
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined)
    const decoder = new StreamDecoder((frame) => {
      if (frame.kind === 'handshake-request') socket.write(encodeHandshakeResponse({ status: 200, message: 'OK' }))
      onFrame(frame, socket)
    }, () => socket.destroy(), { handshake: 'client' })
    socket.on('data', (d) => decoder.write(d))
    onAccept?.(socket)
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`
}

describe('close behind queued frames', { timeout: 60_000 }, () => {
  it('sends the Close after the last fragment of a large push, and the peer answers it having read the whole push', async () => {
    const kinds: string[] = []
    let pushBytes = 0
    const url = await rawPeer((frame, socket) => {
      kinds.push(frame.kind)
      if (frame.kind === 'push') pushBytes += frame.payload.length
      if (frame.kind === 'close') socket.end(encodeFrame({ kind: 'close', status: 1000, message: '' }, STREAM))
    })
    const c = await connect(url, { fragmentSize: 16 * 1024 })
    clients.push(c)
    const payload = Buffer.alloc(1024 * 1024, 0x61)
    c.push('big', payload)
    const info = await c.close(1000, '')
    expect(info).toMatchObject({ initiator: 'local', remoteCode: 1000, unsent: 0 })
    expect(kinds.at(-1)).toBe('close')
    expect(kinds.filter((k) => k === 'push').length).toBeGreaterThan(60)
    expect(kinds.filter((k) => k !== 'push')).toEqual(['handshake-request', 'close'])
    expect(pushBytes).toBe(payload.length)
  })

  it('a peer that reads nothing more: close() gives up after flushTimeout and reports the bytes it could not send', async () => {
    const url = await rawPeer((frame, socket) => {
      // After the handshake the peer stops reading: the client's writes back up.
      if (frame.kind === 'handshake-request') socket.pause()
    })
    const c = await connect(url, { fragmentSize: 64 * 1024, flushTimeout: 300, closeTimeout: 300 })
    clients.push(c)
    c.push('big', Buffer.alloc(32 * 1024 * 1024, 0x62))
    const info = await c.close(1000, '')
    expect(info.unsent).toBeGreaterThan(0)
    expect(info.remoteCode).toBeUndefined()
  })

  it('a peer that closes first while fragments are still queued: they go out, then the answer; the close is the peer\'s', async () => {
    let pushBytes = 0
    const kinds: string[] = []
    const url = await rawPeer((frame, socket) => {
      kinds.push(frame.kind)
      if (frame.kind === 'push') {
        // The peer starts the close at the first fragment; it still reads what follows.
        if (pushBytes === 0) socket.write(encodeFrame({ kind: 'close', status: 1001, message: 'going away' }, STREAM))
        pushBytes += frame.payload.length
      }
      if (frame.kind === 'close') socket.end()
    })
    const c = await connect(url, { fragmentSize: 16 * 1024 })
    clients.push(c)
    const payload = Buffer.alloc(512 * 1024, 0x63)
    c.push('big', payload)
    const info = await c.closed
    expect(info).toMatchObject({ initiator: 'remote', remoteCode: 1001, unsent: 0 })
    expect(pushBytes).toBe(payload.length)
    expect(kinds.at(-1)).toBe('close')
  })
})
