import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AnyFrame, encodeHandshakeRequest } from '../../src/lib/codec/index.js'
import { connect } from '../../src/lib/session/index.js'
import { type ServeProcess, startServe } from '../helpers/cli.js'
import { client, json, parse, rawSocket, until } from './helpers.js'

/** A raw TCP peer that does the STMP handshake by hand and then does only what it is told. */
async function rawPeer(url: string, headers: Record<string, string>): Promise<{ socket: net.Socket; frames: AnyFrame[]; closed: Promise<void> }> {
  const { socket, frames, closed } = rawSocket(url)
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(encodeHandshakeRequest({ url: '/?stmp_version=3', headers }))
  await until(() => frames.length > 0, 5000, 'handshake answer')
  expect(frames[0]).toMatchObject({ kind: 'handshake-response', status: 200 })
  return { socket, frames, closed }
}

describe('serve --token --keepalive --ping-timeout', () => {
  let p: ServeProcess
  beforeAll(async () => {
    p = await startServe(['tcp://127.0.0.1:0', 'ws://127.0.0.1:0/stmp', '--token', 's3cret', '--keepalive', '100ms', '--ping-timeout', '200ms'], 2)
  })
  afterAll(async () => {
    await p?.stop()
  })

  it('refuses a client without the token or with a wrong one (401) and accepts the right one', async () => {
    for (const url of p.urls) {
      await expect(connect(url, { timeout: 5000 })).rejects.toMatchObject({ code: 'HANDSHAKE_REFUSED', status: 401 })
      await expect(connect(url, { timeout: 5000, token: 'wrong' })).rejects.toMatchObject({ code: 'HANDSHAKE_REFUSED', status: 401 })
      const c = await client(url, { token: 's3cret' })
      const res = await c.request('a', json({ ok: true }))
      expect(res.status).toBe(200)
      expect(parse(res.payload)).toEqual({ ok: true })
    }
  })

  it('closes a silent peer that never answers pings, and keeps a client that does', async () => {
    const good = await client(p.urls[0], { token: 's3cret' })
    const silent = await rawPeer(p.urls[0], { authorization: 'Bearer s3cret' })
    const started = Date.now()
    await silent.closed
    expect(Date.now() - started).toBeLessThan(5000)
    expect(silent.frames.some((f) => f.kind === 'ping')).toBe(true)
    // connect() answers the server's pings (wire notes §6), so it stays open.
    expect(good.state).toBe('open')
    expect((await good.request('still', json(1))).status).toBe(200)
  })

  it('a peer that sends garbage gets Close 1002, and the server keeps serving another client', async () => {
    const other = await client(p.urls[0], { token: 's3cret' })
    const bad = await rawPeer(p.urls[0], { authorization: 'Bearer s3cret' })
    // LENGTH 3, then a head with KIND 7 (wire notes §3: a protocol error).
    bad.socket.write(Buffer.from([0x03, 0x70, 0x00, 0x01]))
    await bad.closed
    const close = bad.frames.find((f) => f.kind === 'close')
    expect(close).toMatchObject({ kind: 'close', status: 1002 })
    const res = await other.request('after.garbage', json('fine'))
    expect(res.status).toBe(200)
    expect(parse(res.payload)).toBe('fine')
  })
})
