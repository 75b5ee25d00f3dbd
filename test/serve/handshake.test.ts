import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { type AnyFrame, encodeHandshakeRequest } from '../../src/lib/codec/index.js'
import { checkHandshakeUrl, httpOnStreamMessage, looksLikeHttp } from '../../src/lib/dialects/stmp-v3/negotiation.js'
import { ROOT, runCli, spawnCli } from '../helpers/cli.js'
import { client, json, ndjson, parse, rawSocket, serve, tempDir, until, writeFile } from './helpers.js'

/** A raw TCP peer: writes `bytes`, collects the server's frames until the socket closes. */
async function rawExchange(url: string, bytes: Buffer): Promise<AnyFrame[]> {
  const { socket, frames, closed } = rawSocket(url)
  socket.write(bytes)
  await closed
  return frames
}

describe('serve: what the handshake refuses, and what the log says (issue 18, points 12 and 22)', () => {
  it('a WebSocket client on a tcp listener: the log says "an HTTP request on a tcp listener: use ws://", once', async () => {
    const p = await serve(['tcp://127.0.0.1:0'])
    const { port } = new URL(p.urls[0].replace(/^tcp:/, 'http:'))
    const ws = new WebSocket(`ws://127.0.0.1:${port}/stmp?stmp_version=3`)
    await new Promise<void>((resolve) => {
      ws.on('error', () => resolve())
      ws.on('close', () => resolve())
    })
    await until(() => /closed 1008/.test(p.stderr()), 10_000, 'the close line')
    const line = p.stderr().split('\n').find((l) => l.includes('closed 1008')) as string
    expect(line).toContain('an HTTP request on a tcp listener: use ws://')
    expect(line).not.toContain('stmp_version')
    // The rest of the HTTP request is not reported as a second, protocol, error.
    expect(line).not.toMatch(/RESERVED_BIT|BAD_KIND|BAD_LENGTH/)
  })

  it('refuses a 100 KB handshake URL, one that is not a path, and random bytes with 400 (never 200)', async () => {
    const p = await serve(['tcp://127.0.0.1:0', '--json'])
    const long = await rawExchange(p.urls[0], encodeHandshakeRequest({ url: `/${'a'.repeat(100_000)}`, headers: {} }))
    expect(long[0]).toMatchObject({ kind: 'handshake-response', status: 400 })
    expect((long[0] as { message: string }).message).toMatch(/over the 8192-byte limit/)
    const notPath = await rawExchange(p.urls[0], encodeHandshakeRequest({ url: 'Zm9vYmFyIGJheg?stmp_version=3', headers: {} }))
    expect(notPath[0]).toMatchObject({ kind: 'handshake-response', status: 400 })
    expect((notPath[0] as { message: string }).message).toMatch(/must be a path starting with "\/"/)
    // 100 KB of random bytes after a LENGTH that covers them all.
    const body = randomBytes(100_000)
    const random = await rawExchange(p.urls[0], Buffer.concat([Buffer.from([0xa0, 0x8d, 0x06]), body]))
    expect(random.some((f) => f.kind === 'handshake-response' && f.status === 200)).toBe(false)
    // A good client still gets in.
    const c = await client(p.urls[0])
    expect((await c.request('ok', json(1))).status).toBe(200)
    expect(ndjson(p).filter((o) => o.event === 'open')).toHaveLength(1)
  })

  it('--log and --json redact credentials in the open event and the handshake frame, as fetch -v does', async () => {
    const p = await serve(['tcp://127.0.0.1:0', 'ws://127.0.0.1:0/stmp', '--token', 's3cret', '--log'], 2)
    for (const url of p.urls) {
      const c = await client(url, { token: 's3cret', headers: { Cookie: 'id=42', 'X-Trace': 't1' } })
      expect((await c.request('a', json(1))).status).toBe(200)
    }
    await until(() => ndjson(p).filter((o) => o.event === 'open').length === 2, 5000, 'two open events')
    for (const open of ndjson(p).filter((o) => o.event === 'open')) {
      expect(open.headers).toMatchObject({ authorization: 'Bearer <redacted>', 'x-trace': 't1' })
    }
    expect(p.stdout()).not.toContain('s3cret')
    expect(p.stdout()).not.toContain('id=42')
  })

  it('a close line names the code and the error once', async () => {
    const p = await serve(['tcp://127.0.0.1:0', '--max-frame', '1k'])
    const c = await client(p.urls[0])
    await c.request('big', json('x'.repeat(3000))).catch(() => undefined)
    await until(() => /closed 1009/.test(p.stderr()), 5000, 'the close line')
    const line = p.stderr().split('\n').find((l) => l.includes('closed 1009')) as string
    expect(line.match(/TOO_LARGE/g)).toHaveLength(1)
    expect(line.match(/over the 1024-byte limit/g)).toHaveLength(1)
    expect(line).toMatch(/#\d+ closed 1009 TOO_LARGE at byte \d+: frame of \d+ bytes is over the 1024-byte limit \(local\)$/)
  })
})

describe('serve --routes: an unclosed placeholder (issue 18, point 22)', () => {
  it('is BAD_ROUTES at load, exit 2, naming the route and field', async () => {
    const dir = tempDir()
    const file = writeFile(dir, 'routes.yaml', 'user.get:\n  reply: { name: "User {{payload.x" }\n')
    const r = await runCli(['serve', 'tcp://127.0.0.1:0', '--routes', file, '--json'], { timeout: 30_000 })
    expect(r.code).toBe(2)
    const error = (JSON.parse(r.stdout.trim()) as { error: { code: string; message: string } }).error
    expect(error.code).toBe('BAD_ROUTES')
    expect(error.message).toContain('"user.get"')
    expect(error.message).toContain('unclosed placeholder')
  })
})

describe('serve --json: the listening event (issue 18, point 16)', () => {
  it('prints one "listening" line on stdout with every bound address, before any connection', async () => {
    const dir = tempDir()
    const sock = join(dir, 's.sock')
    const p = await serve(['tcp://127.0.0.1:0', 'ws://127.0.0.1:0/stmp', `unix:${sock}`, '--json'], 3)
    await until(() => ndjson(p).length > 0, 5000, 'the listening event')
    const first = ndjson(p)[0]
    expect(first).toMatchObject({ event: 'listening', urls: p.urls })
    expect(first.urls as string[]).toHaveLength(3)
    expect((first.urls as string[]).every((u) => !/:0(\/|$)/.test(u))).toBe(true)
    // A script can connect from that line alone.
    const c = await client((first.urls as string[])[1])
    expect(parse((await c.request('e', json({ ok: 1 }))).payload)).toEqual({ ok: 1 })
  })
})

describe('serve: {"wait": N} on stdin (issue 18, point 16: the README push example)', () => {
  it('holds the lines after it until N connections are open, so a push piped into a fresh server reaches a client', async () => {
    const child = spawnCli(['serve', 'tcp://127.0.0.1:0', '--json'])
    try {
      child.stdin.end('{"wait":2}\n{"action":"news","payload":{"text":"hi"}}\n{"wait":0}\n')
      let out = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
      await until(() => out.includes('"listening"'), 25_000, 'listening')
      const url = (JSON.parse(out.split('\n')[0]) as { urls: string[] }).urls[0]
      const got: string[] = []
      // onPush set before the handshake: a push can come in the same read as its answer.
      const a = await client(url, { prepare: (s) => { s.onPush = (push) => got.push(`a ${push.action} ${push.payload.toString()}`) } })
      // One connection is not two: nothing yet.
      expect((await a.request('x', json(1))).status).toBe(200)
      expect(got).toEqual([])
      await client(url, { prepare: (s) => { s.onPush = (push) => got.push(`b ${push.action} ${push.payload.toString()}`) } })
      await until(() => got.length === 2, 5000, 'the pushes')
      expect(got.sort()).toEqual(['a news {"text":"hi"}', 'b news {"text":"hi"}'])
      // A bad wait line is reported like any bad line.
      await until(() => out.includes('"line":3'), 5000, 'the bad wait line')
      expect(out).toMatch(/"event":"error","line":3,"error":\{"code":"BAD_INPUT"/)
    } finally {
      child.kill('SIGKILL')
    }
  })
})

describe('examples/handler.mjs: math.add without data (issue 18, point 16)', () => {
  it('answers 400 saying what to send, not 500 with a JavaScript message', async () => {
    const p = await serve(['tcp://127.0.0.1:0', '--handler', join(ROOT, 'examples/handler.mjs')])
    const c = await client(p.urls[0])
    for (const payload of [Buffer.alloc(0), json(null), json({ a: 1 })]) {
      const res = await c.request('math.add', payload)
      expect(res.status).toBe(400)
      expect(res.payload.toString()).toBe('math.add needs {"a": NUMBER, "b": NUMBER}')
    }
    const joined = await c.request('chat.join', Buffer.alloc(0))
    expect(joined.status).toBe(400)
    expect(joined.payload.toString()).toBe('chat.join needs {"room": NAME}')
    expect(parse((await c.request('math.add', json({ a: 2, b: 3 }))).payload)).toMatchObject({ sum: 5 })
  })
})

describe('handshake URL and HTTP checks (in process)', () => {
  it('a URL is a path of at most 8192 bytes without control characters', () => {
    expect(checkHandshakeUrl('/')).toBeUndefined()
    expect(checkHandshakeUrl('/chat?stmp_version=3&stmp_content_type=application/json')).toBeUndefined()
    expect(checkHandshakeUrl(`/${'a'.repeat(8191)}`)).toBeUndefined()
    expect(checkHandshakeUrl(`/${'a'.repeat(8192)}`)).toMatch(/over the 8192-byte limit/)
    expect(checkHandshakeUrl('chat')).toMatch(/starting with "\/"/)
    expect(checkHandshakeUrl('/a\u0001b')).toMatch(/control character/)
  })

  it('recognises an HTTP request line whose first byte LENGTH took', () => {
    expect(looksLikeHttp('ET /stmp?stmp_version=3 HTTP/1.1\r')).toBe(true)
    expect(looksLikeHttp('OST /x HTTP/1.0\r')).toBe(true)
    expect(looksLikeHttp('/?stmp_version=3')).toBe(false)
    expect(looksLikeHttp('/HTTP/1.1')).toBe(false)
    expect(httpOnStreamMessage('tls')).toContain('use wss://')
    expect(httpOnStreamMessage('tcp')).toContain('an HTTP request on a tcp listener: use ws://')
  })
})

describe('serve: a client that never finishes its handshake', () => {
  it('is answered 408 after --handshake-timeout and its connection ends (was held until shutdown)', async () => {
    const p = await serve(['tcp://127.0.0.1:0', '--handshake-timeout', '300ms', '--json'])
    // Half a handshake: a LENGTH of 40 and three bytes of it, then nothing.
    const started = Date.now()
    const frames = await rawExchange(p.urls[0], Buffer.from([40, 0x2f, 0x3f, 0x73]))
    expect(frames[0]).toMatchObject({ kind: 'handshake-response', status: 408 })
    expect((frames[0] as { message: string }).message).toMatch(/no handshake within 300 ms/)
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    // A client that does finish in time is let in.
    const c = await client(p.urls[0])
    expect((await c.request('ok', json(1))).status).toBe(200)
  })

  it('--handshake-timeout 0 is BAD_FLAG, exit 2', async () => {
    const run = await runCli(['serve', 'tcp://127.0.0.1:0', '--handshake-timeout', '0'])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('BAD_FLAG')
  })
})
