import { afterEach, describe, expect, it } from 'vitest'
import { StmpServer, connect, type Session } from '../../src/lib/session/index.js'
import { formatAddress, parseAddress } from '../../src/lib/transport/index.js'

/** Request deadlines share one timer per session (session.ts armDeadline/expire). */
let server: StmpServer | undefined
let client: Session | undefined
afterEach(async () => {
  client?.transport.destroy()
  await server?.close(200)
})

describe('request deadlines', () => {
  it('each request fails at its own timeout, shorter ones first, answered ones never', async () => {
    server = new StmpServer({ handler: (r) => (r.action === 'slow' ? new Promise(() => undefined) : { status: 200, payload: r.payload }) })
    const listener = await server.listen(parseAddress('tcp://127.0.0.1:0', { listening: true }))
    client = await connect(formatAddress(listener.address), { requestTimeout: 5000 })
    const t0 = performance.now()
    const settled: [string, string, number][] = []
    const track = (name: string, p: Promise<unknown>) => p.then(
      () => settled.push([name, 'ok', performance.now() - t0]),
      (e: { code: string }) => settled.push([name, e.code, performance.now() - t0]),
    )
    await Promise.all([
      track('long', client.request('slow', Buffer.from('1'), { timeout: 400 })),
      track('short', client.request('slow', Buffer.from('2'), { timeout: 100 })),
      track('answered', client.request('fast', Buffer.from('3'), { timeout: 150 })),
      track('default', client.request('slow', Buffer.from('4'), { timeout: 250 })),
    ])
    expect(settled.filter(([n]) => n !== 'answered').map(([n, c]) => `${n} ${c}`)).toEqual(['short TIMEOUT', 'default TIMEOUT', 'long TIMEOUT'])
    expect(settled.find(([n]) => n === 'answered')?.[1]).toBe('ok')
    const at = Object.fromEntries(settled.map(([n, , t]) => [n, t]))
    expect(at.short).toBeGreaterThanOrEqual(99)
    expect(at.default).toBeGreaterThanOrEqual(249)
    expect(at.long).toBeGreaterThanOrEqual(399)
    expect(client.inFlight).toBe(0)
    // The session still works after its requests timed out.
    expect((await client.request('fast', Buffer.from('5'))).payload.toString()).toBe('5')
  })
})
