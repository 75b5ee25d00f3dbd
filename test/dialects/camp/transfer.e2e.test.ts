import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { connect } from '../../../src/lib/session/index.js'
import { BIN, ROOT, type ServeProcess, runCli, startServe } from '../../helpers/cli.js'
import { tempDir } from '../../helpers/tmp.js'

/**
 * Transactions in both directions through the built CLI against `serve --dialect camp`: pull
 * transactions served from a file (-O pull-file) or from what the client pushed (-O pull=echo),
 * answered by TX_FETCH ranges; serve --stats with CAMP's figures; push --file of 64 MiB in
 * bounded memory (the CLI's peak RSS measured with peak-rss.mjs).
 */
const lines = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

describe('serve -O pull-file=FILE: a pull transaction answered by TX_FETCH ranges', () => {
  let serve: ServeProcess
  let url: string
  const dir = tempDir('camp-pull-')
  const file = join(dir, 'data.bin')
  const data = randomBytes(300_000)

  beforeAll(async () => {
    writeFileSync(file, data)
    serve = await startServe(['--dialect', 'camp', '--token', 'T', '-O', `pull-file=${file}`, 'ws://127.0.0.1:0/', '--log'])
    url = serve.urls[0]
  }, 30_000)
  afterAll(async () => { await serve?.stop() })

  it('connect --save-dir fetches two ranges: the file arrives whole, chunks at their true offsets, TX_FINISH after the range that reaches the end', async () => {
    const save = tempDir('camp-save-')
    const stdin = '{"command":"tx-fetch","txId":0,"start":0,"end":100000}\n{"command":"tx-fetch","txId":0,"start":100000,"end":300000}\n'
    const r = await runCli(['connect', '--dialect', 'camp', '--token', 'T', url, '--save-dir', save, '--wait', '1s'], { stdin })
    expect(r.code).toBe(0)
    const out = lines(r.stdout)
    expect(out).toContainEqual({ kind: 'event', event: 'tx-start', txId: 0, name: 'data.bin', size: 300_000, behaviour: 'pull' })
    expect(out).toContainEqual(expect.objectContaining({ kind: 'event', event: 'tx-finish', txId: 0, name: 'data.bin', bytes: 300_000, chunks: 6 }))
    expect(out).toContainEqual({ kind: 'event', event: 'tx-saved', txId: 0, name: 'data.bin', path: join(save, 'data.bin'), bytes: 300_000 })
    expect(sha(readFileSync(join(save, 'data.bin')))).toBe(sha(data))
    const sent = lines(serve.stdout()).filter((e) => e.event === 'frame' && e.direction === 'out' && String(e.kind).startsWith('tx-'))
    expect(sent.map((f) => [f.kind, f.offset ?? f.behaviour ?? '', f.length ?? ''])).toEqual([
      ['tx-start', 'pull', ''],
      ['tx-chunk', 0, 65_536], ['tx-chunk', 65_536, 34_464],
      ['tx-chunk', 100_000, 65_536], ['tx-chunk', 165_536, 65_536], ['tx-chunk', 231_072, 65_536], ['tx-chunk', 296_608, 3392],
      ['tx-finish', '', ''],
    ])
    const dialectEvents = lines(serve.stdout()).filter((e) => e.event === 'dialect')
    expect(dialectEvents).toContainEqual(expect.objectContaining({ name: 'tx-sent', name_: 'data.bin', txId: 0, bytes: 300_000, size: 300_000, behaviour: 'pull' }))
    expect(dialectEvents).toContainEqual(expect.objectContaining({ name: 'tx-offer', name_: 'data.bin', txId: 0, size: 300_000 }))
  })

  it('the prompt: /fetch 0 0 300000 shows the offer, progress lines at each tenth, finished, saved; the big push is not dumped', async () => {
    const save = tempDir('camp-save-')
    const r = await runCli(['connect', '--interactive', '--dialect', 'camp', '--token', 'T', url, '--save-dir', save], { stdin: '/fetch 0 0 300000\n', timeout: 15_000 })
    const out = r.stdout + r.stderr
    expect(out).toMatch(/⇠ transaction 0 data\.bin: offered \(pull: \/fetch 0 gets it\), 293\.0 KiB/)
    expect(out).toMatch(/⇠ transaction 0 data\.bin: \[#+\.*\] 21% 64\.0 KiB of 293\.0 KiB/)
    expect(out).toMatch(/⇠ transaction 0 data\.bin: \[#{20}\] 100% 293\.0 KiB of 293\.0 KiB/)
    expect(out).toMatch(/⇠ transaction 0 data\.bin: finished, 293\.0 KiB in 5 chunks/)
    expect(out).toMatch(/⇠ push tx:data\.bin \(300000 bytes, not shown\)/)
    expect(sha(readFileSync(join(save, 'data.bin')))).toBe(sha(data))
  })

  it('a TX_FETCH for a transaction the server does not have is reported (unknown) and answered with nothing', async () => {
    const r = await runCli(['connect', '--dialect', 'camp', '--token', 'T', url, '--wait', '500ms'], { stdin: '{"command":"tx-fetch","txId":7,"start":0,"end":10}\n' })
    expect(r.code).toBe(0)
    expect(lines(r.stdout).some((l) => l.event === 'tx-chunk')).toBe(false)
    expect(lines(serve.stdout())).toContainEqual(expect.objectContaining({ event: 'dialect', name: 'tx-fetch', txId: 7, start: 0, end: 10, unknown: true }))
  })

  it('-O pull-file that is not a file is BAD_FLAG before serve listens; -O pull=other too', async () => {
    const r = await runCli(['serve', '--dialect', 'camp', '-O', 'pull-file=/nonexistent', 'ws://127.0.0.1:0/'], { timeout: 20_000 })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/BAD_FLAG: -O pull-file=\/nonexistent: not a regular file/)
    const p = await runCli(['serve', '--dialect', 'camp', '-O', 'pull=file', 'ws://127.0.0.1:0/'], { timeout: 20_000 })
    expect(p.code).toBe(2)
    expect(p.stderr).toMatch(/BAD_FLAG: -O pull=file/)
  })
})

describe('serve -O pull=echo and --stats', () => {
  let serve: ServeProcess
  let url: string

  beforeAll(async () => {
    serve = await startServe(['--dialect', 'camp', '-O', 'pull=echo', '-O', 'ack-timeout=300', 'ws://127.0.0.1:0/', '--stats', '--stats-interval', '400ms', '--json'])
    url = serve.urls[0]
  }, 30_000)
  afterAll(async () => { await serve?.stop() })

  it('what the client pushed is offered back as a pull transaction of the same name; fetching it gives the same bytes', async () => {
    const events: [string, Record<string, unknown>][] = []
    const pushes: { action: string; payload: Buffer }[] = []
    const s = await connect(url, { dialect: 'camp', token: 'x', prepare: (x) => {
      x.onEvent = (n, d) => events.push([n, d])
      x.onPush = (p) => pushes.push({ action: p.action, payload: p.payload })
    } })
    const payload = randomBytes(150_000)
    s.command('tx-send', { name: 'e.bin', payload })
    for (let t = 0; t < 80 && !events.some(([n, d]) => n === 'tx-start' && d.behaviour === 'pull'); t++) await new Promise((r) => setTimeout(r, 25))
    const offer = events.find(([n, d]) => n === 'tx-start' && d.behaviour === 'pull')?.[1]
    expect(offer).toEqual({ txId: 0, name: 'e.bin', size: 150_000, behaviour: 'pull' })
    // No end: the size of the offer.
    s.command('tx-fetch', { txId: 0 })
    for (let t = 0; t < 80 && pushes.length === 0; t++) await new Promise((r) => setTimeout(r, 25))
    expect(pushes).toHaveLength(1)
    expect(pushes[0].action).toBe('tx:e.bin')
    expect(pushes[0].payload.equals(payload)).toBe(true)
    await s.close()
  })

  it('--stats: per connection CAMP\'s ackTimeouts, ackRtt, bytes in/out; a client that never acknowledges has its ack timeouts counted', async () => {
    // A raw client that sends its ENDPOINT_INFO and data frames but never an ACK.
    const ws = new WebSocket(`${url}?authorization=Bearer%20x&x-CAMP-sid=9001`, ['camp'])
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
    const sid = Buffer.alloc(8)
    sid.writeBigUInt64BE(9001n)
    ws.send(Buffer.concat([sid, Buffer.from('ff00000000000000010000000000000001', 'hex')]))
    ws.send(Buffer.concat([sid, Buffer.from('fa00000001', 'hex'), Buffer.from('"hi"')]))
    const f = await runCli(['fetch', '--dialect', 'camp', url, 'utf8', '{"x":1}'])
    expect(f.code).toBe(0)
    const statsOf = (sidFilter: (e: Record<string, unknown>) => boolean) => lines(serve.stdout()).filter((e) => e.event === 'stats' && sidFilter(e))
    let raw: Record<string, unknown>[] = []
    for (let t = 0; t < 60; t++) {
      raw = statsOf((e) => typeof e.ackTimeouts === 'number' && e.ackTimeouts >= 2)
      if (raw.length > 0) break
      await new Promise((r) => setTimeout(r, 100))
    }
    // Its ENDPOINT_INFO and the echo of its data frame went unacknowledged: 2 timeouts, no ACK round trip.
    expect(raw[0]).toMatchObject({ ackTimeouts: 2, ackRtt: null, acked: 0, unacked: 0, final: false })
    expect(raw[0].bytesIn).toBe(25 + 17) // ENDPOINT_INFO 25 bytes, UTF8DATA "hi" 17
    ws.close()
    // The stmpcat client acknowledged everything: its final line has the ACK round trip and no timeouts.
    const fetched = statsOf((e) => e.final === true && e.ackTimeouts === 0)
    expect(fetched.length).toBeGreaterThan(0)
    expect(fetched[0]).toMatchObject({ ackTimeouts: 0, unacked: 0 })
    expect(typeof fetched[0].ackRtt).toBe('number')
    expect(fetched[0].acked).toBeGreaterThanOrEqual(2)
    expect(fetched[0].bytesIn).toBeGreaterThan(0)
    expect(fetched[0].bytesOut).toBeGreaterThan(0)
  })
})

describe('push --file streams: 64 MiB in bounded memory', () => {
  let serve: ServeProcess
  let url: string
  const save = tempDir('camp-big-')

  beforeAll(async () => {
    serve = await startServe(['--dialect', 'camp', '-O', `save-dir=${save}`, 'ws://127.0.0.1:0/'])
    url = serve.urls[0]
  }, 30_000)
  afterAll(async () => { await serve?.stop() })

  /** push --file under node --import peak-rss.mjs: exit code, stderr and the peak RSS in MiB. */
  async function pushFile(path: string, name: string): Promise<{ code: number | null; stderr: string; peakMiB: number }> {
    const child = spawn(process.execPath, ['--import', join(ROOT, 'test/dialects/camp/peak-rss.mjs'), BIN, 'push', '--dialect', 'camp', url, name, '--file', path], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' } })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.stdout.resume()
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)))
    const m = /peak-rss-kib (\d+)/.exec(stderr)
    return { code, stderr, peakMiB: m ? Number(m[1]) / 1024 : NaN }
  }

  it('the server gets every byte (saved by -O save-dir, same sha256); the sender\'s peak RSS grows by far less than the file', async () => {
    const dir = tempDir('camp-file-')
    const small = join(dir, 'small.bin')
    writeFileSync(small, randomBytes(1000))
    const big = join(dir, 'big.bin')
    const hash = createHash('sha256')
    await new Promise<void>((resolve, reject) => {
      const out = createWriteStream(big)
      out.on('error', reject)
      for (let i = 0; i < 64; i++) {
        const part = randomBytes(1024 * 1024)
        hash.update(part)
        out.write(part)
      }
      out.end(() => resolve())
    })
    const base = await pushFile(small, 'small.bin')
    expect(base.code).toBe(0)
    const run = await pushFile(big, 'big.bin')
    expect(run.stderr.replace(/peak-rss-kib \d+\n/, '')).toBe('')
    expect(run.code).toBe(0)
    for (let t = 0; t < 100 && readFileSync(join(save, 'big.bin')).length < 64 * 1024 * 1024; t++) await new Promise((r) => setTimeout(r, 100))
    expect(sha(readFileSync(join(save, 'big.bin')))).toBe(hash.digest('hex'))
    // Reading the file whole (as before this change) costs at least the file's 64 MiB on top of the
    // baseline (measured: +145 MiB); streamed, the growth is garbage chunks not yet collected
    // (measured: +36 MiB, and the same +39 MiB for a 256 MiB file: it does not grow with the file).
    console.log(`push --file peak RSS: ${base.peakMiB.toFixed(1)} MiB for 1 KB, ${run.peakMiB.toFixed(1)} MiB for 64 MiB`)
    expect(run.peakMiB - base.peakMiB).toBeLessThan(60)
  }, 120_000)
})
