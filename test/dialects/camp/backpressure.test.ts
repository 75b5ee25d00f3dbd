import { describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { backpressureOptions, PROFILES, SendQueue, type Queued } from '../../../src/lib/dialects/camp/backpressure.js'
import { type Session, StmpServer } from '../../../src/lib/session/index.js'
import { parseAddress } from '../../../src/lib/transport/index.js'
import { codeOf } from '../../helpers/errors.js'

/**
 * CAMP-Server's backpressure options on stmpcat's CAMP server: a real client on a real socket
 * stops reading, the server pushes numbered frames until its transport is over the high-water
 * mark, and the queue in front of it drops by the policy. The client then reads everything:
 * which frames arrived shows each policy.
 */
const FRAME = 256 * 1024
const COUNT = 80

async function run(drop: string): Promise<{ received: number[]; dropped: Record<string, unknown>[]; pushed: number }> {
  const dropped: Record<string, unknown>[] = []
  let session: Session | undefined
  const server = new StmpServer({
    dialect: 'camp',
    dialectOptions: { 'high-water': '64k', 'low-water': '16k', 'max-queued-frames': '8', drop, 'ack-timeout': '60000' },
    onEvent: (name, data) => { if (name === 'dropped') dropped.push(data) },
    onConnection: (s) => { session = s },
  })
  const listener = await server.listen(parseAddress('ws://127.0.0.1:0/', { listening: true }))
  const ws = new WebSocket(`ws://127.0.0.1:${listener.address.port}/?authorization=Bearer%20x&x-CAMP-sid=${drop.length}`, ['camp'])
  const received: number[] = []
  ws.on('message', (b: Buffer) => { if (b[8] === 0xfa || b[8] === 0xf9) received.push(b.readUInt32BE(13)) })
  await new Promise<void>((r) => ws.once('open', () => r()))
  // The client stops reading: the server's socket buffers fill, then its transport's.
  ws.pause()
  for (let t = 0; t < 40 && session === undefined; t++) await new Promise((r) => setTimeout(r, 10))
  const s = session as Session
  let pushed = 0
  for (let i = 0; i < COUNT; i++) {
    const payload = Buffer.alloc(FRAME, 0x61)
    payload.writeUInt32BE(i, 0)
    s.push(`k${i % 2}`, payload)
    pushed++
    // Let the socket take what it takes between pushes.
    if (i % 8 === 7) await new Promise((r) => setImmediate(r))
  }
  ws.resume()
  let last = -1
  for (let t = 0; t < 200 && received.length !== last; t++) {
    last = received.length
    await new Promise((r) => setTimeout(r, 100))
  }
  ws.close()
  await server.close(500)
  return { received, dropped, pushed }
}

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i)

describe('CAMP send queue with water marks and drop policies (serve -O ...)', () => {
  it('drop-oldest: the newest frames arrive; the oldest waiting ones were dropped; all in order', async () => {
    const { received, dropped } = await run('drop-oldest')
    expect(dropped.length).toBeGreaterThan(0)
    expect(received.length).toBeGreaterThan(8)
    expect(received.length + dropped.length).toBe(COUNT)
    expect(received).toEqual([...received].sort((a, b) => a - b))
    // The last 8 (the queue's size) are all there.
    expect(received.slice(-8)).toEqual(range(COUNT - 8, COUNT))
    expect(dropped.every((d) => d.why === 'the queue is full (drop-oldest)' && d.kind === 'utf8')).toBe(true)
  }, 60_000)

  it('drop-newest: a prefix arrives, the newest frames were dropped', async () => {
    const { received, dropped } = await run('drop-newest')
    expect(dropped.length).toBeGreaterThan(0)
    expect(received.length + dropped.length).toBe(COUNT)
    expect(received).toEqual(range(0, received.length))
    expect(dropped.map((d) => d.why)).toEqual(dropped.map(() => 'the queue is full (drop-newest)'))
  }, 60_000)

  it('dedupe-latest: a waiting frame is replaced by the next one of its key (the push\'s action); the latest of each key arrives', async () => {
    const { received, dropped } = await run('dedupe-latest')
    expect(dropped.length).toBeGreaterThan(0)
    expect(received.length + dropped.length).toBe(COUNT)
    expect(received.slice(-2)).toEqual([COUNT - 2, COUNT - 1])
    // Two keys never fill 8 places: every drop is a replacement.
    expect(new Set(dropped.map((d) => d.why))).toEqual(new Set(['replaced by a newer frame with the same key (dedupe-latest)']))
    expect(new Set(dropped.map((d) => d.key))).toEqual(new Set(['k0', 'k1']))
  }, 60_000)
})

describe('CAMP backpressure options and the queue alone', () => {
  it('profiles and values; bad values are BAD_FLAG', () => {
    expect(backpressureOptions({})).toBeUndefined()
    expect(backpressureOptions({ backpressure: 'optimize_memory' })).toEqual(PROFILES.optimize_memory)
    expect(backpressureOptions({ 'high-water': '1m', 'low-water': '64k', drop: 'drop-newest' })).toMatchObject({ highWater: 1 << 20, lowWater: 65536, drop: 'drop-newest', maxQueuedFrames: 4096 })
    expect(codeOf(() => backpressureOptions({ backpressure: 'fast' }))).toBe('BAD_FLAG')
    expect(codeOf(() => backpressureOptions({ drop: 'random' }))).toBe('BAD_FLAG')
    expect(codeOf(() => backpressureOptions({ 'high-water': 'lots' }))).toBe('BAD_FLAG')
    expect(codeOf(() => backpressureOptions({ 'high-water': '1k', 'low-water': '2k' }))).toBe('BAD_FLAG')
  })

  it('hysteresis: paused at the high-water mark, sends again only at the low-water mark; transaction frames are never dropped; drain() sends all', () => {
    let buffered = 0
    const out: string[] = []
    const drops: string[] = []
    const q = new SendQueue({ highWater: 100, lowWater: 20, maxQueuedBytes: 1000, maxQueuedFrames: 2, drop: 'drop-oldest' }, (b) => { out.push(b.toString()); buffered += b.length }, () => buffered, (item: Queued) => drops.push(item.bytes.toString()))
    const item = (text: string, keep = false): Queued => ({ bytes: Buffer.from(text.padEnd(40, '.')), keep, kind: keep ? 'tx-chunk' : 'utf8' })
    q.enqueue(item('a'))
    q.enqueue(item('b'))
    q.enqueue(item('c')) // 80 + 40 >= 100: waits
    expect(out.map((o) => o[0])).toEqual(['a', 'b'])
    q.enqueue(item('t', true))
    q.enqueue(item('d')) // full (2): the oldest droppable (c) goes, not the transaction frame
    expect(drops.map((d) => d[0])).toEqual(['c'])
    buffered = 30
    expect(q.flush()).toBe(true) // above low water: still paused
    expect(out).toHaveLength(2)
    buffered = 20 // at low water: sends again, up to the high-water mark (20 + 40 + 40 >= 100: d waits)
    expect(q.flush()).toBe(true)
    expect(out.map((o) => o[0])).toEqual(['a', 'b', 't'])
    buffered = 0
    expect(q.flush()).toBe(false)
    expect(out.map((o) => o[0])).toEqual(['a', 'b', 't', 'd'])
    q.enqueue(item('e'))
    buffered = 200
    q.enqueue(item('f'))
    q.drain()
    expect(out.map((o) => o[0])).toEqual(['a', 'b', 't', 'd', 'e', 'f'])
  })
})
