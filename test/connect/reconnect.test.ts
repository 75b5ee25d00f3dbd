import { describe, expect, it } from 'vitest'
import { StmpError } from '../../src/lib/errors.js'
import { Link, type ReconnectPolicy, type Session, backoffDelay, connect, isRetryable } from '../../src/lib/session/index.js'
import { crash, freePort, startServer } from './helpers.js'

const policy: ReconnectPolicy = { enabled: true, attempts: 5, initialDelay: 100, maxDelay: 1000 }

describe('backoff', () => {
  it('doubles from the initial delay up to the maximum, half fixed and half jitter', () => {
    const low = [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, () => 0))
    const high = [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, () => 1))
    expect(low).toEqual([50, 100, 200, 400, 500, 500])
    expect(high).toEqual([100, 200, 400, 800, 1000, 1000])
    expect(backoffDelay(1000, policy, () => 0.5)).toBe(750)
  })

  it('retries refused connections, drops and 503; not a 401 or a usage error', () => {
    expect(isRetryable(new StmpError('CONNECT_FAILED', 'refused'))).toBe(true)
    expect(isRetryable(new StmpError('CONNECTION_RESET', 'reset'))).toBe(true)
    expect(isRetryable(new StmpError('HANDSHAKE_REFUSED', 'x', { status: 503 }))).toBe(true)
    expect(isRetryable(new StmpError('HANDSHAKE_REFUSED', 'x', { status: 401 }))).toBe(false)
    expect(isRetryable(new StmpError('BAD_URL', 'x'))).toBe(false)
  })
})

describe('Link', () => {
  it('dials until the server is there, re-dials after a crash, and stops at close()', async () => {
    const port = await freePort()
    const events: string[] = []
    const fast = { ...policy, initialDelay: 20, maxDelay: 40, attempts: 50 }
    const link = new Link((prepare) => connect(`tcp://127.0.0.1:${port}`, { prepare }), fast, {
      onOpen: (_s, info) => events.push(info.reconnected ? 'reopen' : 'open'),
      onDrop: (info) => events.push(`drop ${info.code}`),
      onRetry: ({ attempt }) => events.push(`retry ${attempt}`),
    }).start()
    await new Promise((r) => setTimeout(r, 100))
    expect(events[0]).toBe('retry 1')
    const first = await startServer({}, port)
    const s1: Session = await link.ready()
    expect((await s1.request('a', Buffer.from('1'))).status).toBe(200)
    await crash(first.server)
    await expect(s1.closed).resolves.toMatchObject({ code: 1006 })
    const second = await startServer({}, port)
    const s2 = await link.ready()
    expect(s2).not.toBe(s1)
    expect((await s2.request('a', Buffer.from('2'))).payload.toString()).toBe('2')
    await link.close(1000)
    expect(link.state).toBe('closed')
    await expect(link.ready()).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' })
    await second.server.close(100)
    expect(events).toContain('drop 1006')
    expect(events.filter((e) => e === 'reopen')).toHaveLength(2)
  })

  it('fails after the attempts run out, and at once when reconnect is off', async () => {
    const port = await freePort()
    const failed: string[] = []
    const dial = () => connect(`tcp://127.0.0.1:${port}`)
    const off = new Link(dial, { ...policy, enabled: false }, { onFail: (e) => failed.push(e.code) }).start()
    await expect(off.ready()).rejects.toMatchObject({ code: 'CONNECT_FAILED' })
    const bounded = new Link(dial, { ...policy, initialDelay: 5, maxDelay: 10, attempts: 3 }, { onFail: (e) => failed.push(e.code) }).start()
    await bounded.finished()
    expect(bounded.state).toBe('failed')
    expect(failed).toEqual(['CONNECT_FAILED', 'CONNECT_FAILED'])
  })

  it('openSession() never gives a session that is closing: it waits for the re-dial, or rejects (issue 18, point 17)', async () => {
    const { server, url } = await startServer({ handler: (r, session) => {
      // The answer and the Close leave in one write: the client reads them together.
      r.respond(200, r.payload)
      void session.close(1000, 'bye')
      return { status: 200 }
    } })
    try {
      const link = new Link((prepare) => connect(url, { prepare }), { ...policy, enabled: false }).start()
      const session = await link.openSession()
      await session.request('bye', Buffer.from('1'))
      // The Close was read with the response: the session is closing, the link not yet told.
      expect(session.state).toBe('closing')
      await expect(link.ready()).resolves.toBe(session)
      await expect(link.openSession()).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' })
      expect(link.state).toBe('failed')
    } finally {
      await server.close(100)
    }
  })
})
