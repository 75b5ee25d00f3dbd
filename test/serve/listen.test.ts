import { execFileSync } from 'node:child_process'
import net from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { runCli, spawnCli } from '../helpers/cli.js'
import { client, json, parse, serve, tempDir, testCertificate, until, writeFile } from './helpers.js'

const hasOpenssl = (() => {
  try {
    execFileSync('which', ['openssl'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

describe('serve: listeners and echo', () => {
  it('listens on tcp, ws, unix, tls and wss at once and echoes over each', async () => {
    expect(hasOpenssl).toBe(true)
    const dir = tempDir()
    const { certFile: cert, keyFile: key, cert: ca } = testCertificate(dir)
    const sock = join(dir, 's.sock')
    const p = await serve(['tcp://127.0.0.1:0', 'ws://127.0.0.1:0/stmp', `unix:${sock}`, 'tls://127.0.0.1:0', 'wss://127.0.0.1:0/secure', '--cert', cert, '--key', key], 5)
    expect(p.urls[0]).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/)
    expect(p.urls[1]).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/stmp$/)
    expect(p.urls[2]).toBe(`unix:${sock}`)
    expect(p.urls[3]).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/)
    expect(p.urls[4]).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/secure$/)
    expect(p.urls.every((u) => !u.includes(':0/') && !u.endsWith(':0'))).toBe(true)
    for (const url of p.urls) {
      const c = await client(url, { tls: { ca: [ca] } })
      const res = await c.request('test.echo', json({ over: url }))
      expect(res.status).toBe(200)
      expect(parse(res.payload)).toEqual({ over: url })
    }
    // The listening lines are on stderr; stdout holds results only.
    expect(p.stdout()).toBe('')
  })

  it('a raw ws client sending a text frame gets the exact text response', async () => {
    const p = await serve(['ws://127.0.0.1:0/stmp'])
    const ws = new WebSocket(`${p.urls[0]}?stmp_version=3`)
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    const reply = new Promise<{ data: string; binary: boolean }>((resolve) => ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data: data.toString('utf8'), binary: isBinary })))
    ws.send('qAAEtest.echo\n{"a":1}')
    const got = await reply
    expect(got.binary).toBe(false)
    expect(got.data).toBe('sAAEAMg{"a":1}')
    ws.close()
  })

  it('uses tcp://127.0.0.1:5000 when given no URL', async () => {
    // Port 5000 may be taken on a shared machine; then the error must be the clear exit 3.
    const probe = net.createServer()
    const free = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false))
      probe.listen(5000, '127.0.0.1', () => probe.close(() => resolve(true)))
    })
    if (free) {
      const p = await serve([])
      expect(p.urls).toEqual(['tcp://127.0.0.1:5000'])
      const c = await client(p.urls[0])
      expect((await c.request('a', json(1))).status).toBe(200)
    } else {
      const r = await runCli(['serve'], { timeout: 10_000 })
      expect(r.code).toBe(3)
      expect(r.stderr).toMatch(/LISTEN_FAILED/)
    }
  })

  it('exits 2 with BAD_URL for a bad URL', async () => {
    const bad = await runCli(['serve', 'foo://x:1'], { timeout: 30_000 })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/BAD_URL/)
  })

  it('exits 2 with BAD_FILE for a missing or unusable certificate', async () => {
    const dir = tempDir()
    const missing = await runCli(['serve', 'tls://127.0.0.1:0', '--cert', join(dir, 'nope.pem'), '--key', join(dir, 'nope.key')], { timeout: 30_000 })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/BAD_FILE/)
    const garbage = writeFile(dir, 'bad.pem', 'not a certificate\n')
    const unusable = await runCli(['serve', 'wss://127.0.0.1:0/stmp', '--cert', garbage, '--key', garbage], { timeout: 30_000 })
    expect(unusable.code).toBe(2)
    expect(unusable.stderr).toMatch(/BAD_FILE/)
  })

  it('exits 3 with LISTEN_FAILED when the port is in use', async () => {
    const p = await serve(['tcp://127.0.0.1:0'])
    const port = p.urls[0].split(':').pop() as string
    const busy = await runCli(['serve', `tcp://127.0.0.1:${port}`, '--json'], { timeout: 30_000 })
    expect(busy.code).toBe(3)
    expect(JSON.parse(busy.stdout.trim())).toMatchObject({ error: { code: 'LISTEN_FAILED' } })
  })

  it('SIGTERM sent the moment "listening" is printed still stops gracefully: exit 0, not killed by the signal', async () => {
    for (let i = 0; i < 3; i++) {
      const child = spawnCli(['serve', 'tcp://127.0.0.1:0'])
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
      let err = ''
      child.stderr.on('data', (chunk: Buffer) => {
        const before = err
        err += chunk.toString('utf8')
        if (!before.includes('listening on') && err.includes('listening on')) child.kill('SIGTERM')
      })
      expect(await exit, `run ${i + 1}: ${err}`).toEqual({ code: 0, signal: null })
    }
  })

  it('SIGTERM with a slow handler in flight: its response arrives, then Close 1001, exit 0', async () => {
    const dir = tempDir()
    const routes = writeFile(dir, 'routes.yaml', 'slow:\n  delay: 600ms\n  reply: done\n')
    const p = await serve(['tcp://127.0.0.1:0', '--routes', routes])
    const c = await client(p.urls[0])
    const pending = c.request('slow', json(null))
    await new Promise((r) => setTimeout(r, 100))
    const exited = p.stop('SIGTERM')
    const res = await pending
    expect(res.status).toBe(200)
    expect(parse(res.payload)).toBe('done')
    const info = await c.closed
    expect(info.code).toBe(1001)
    expect(await exited).toBe(0)
  })

  it('SIGINT stops a ws server too: Close 1001, exit 0', async () => {
    const p = await serve(['ws://127.0.0.1:0/stmp'])
    const c = await client(p.urls[0])
    const closed = c.closed
    expect(await p.stop('SIGINT')).toBe(0)
    expect((await closed).code).toBe(1001)
    await until(() => p.child.exitCode !== null)
  })
})
