import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { StmpServer } from '../../src/lib/session/index.js'
import { type ServeProcess, runCli, spawnCli, startServe } from '../helpers/cli.js'
import { crash, freePort, liveCli, ndjson, serveWithFile, startServer } from './helpers.js'
import { tempDir } from '../helpers/tmp.js'

const servers: StmpServer[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(100)))
})

async function server(options: Parameters<typeof startServer>[0] = {}, port = 0) {
  const s = await startServer(options, port)
  servers.push(s.server)
  return s
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const ROUTES = `
slow:
  delay: 400ms
  reply: "{{payload}}"
hang:
  delay: 3s
missing:
  status: 404
boom:
  status: 500
"*":
  reply: "{{payload}}"
`

// Child processes of the CLI: generous limits for a loaded CI machine.
const SLOW = { timeout: 90_000 }

describe('connect in a pipe, against stmpcat serve', SLOW, () => {
  let serve: ServeProcess
  let url: string
  beforeAll(async () => {
    serve = await serveWithFile('--routes', 'routes.yaml', ROUTES)
    url = serve.urls[0]
  })
  afterAll(async () => {
    await serve?.stop()
  })

  it('answers 10,000 lines at --concurrency 64: every id once, payloads equal to the inputs', async () => {
    const input = Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ id: `r${i}`, action: 'echo', payload: { n: i, s: 'x'.repeat(i % 7) } })).join('\n')
    const run = await runCli(['connect', url, '--concurrency', '64'], { stdin: `${input}\n` })
    expect(run.stderr).toBe('')
    expect(run.code).toBe(0)
    const lines = ndjson(run.stdout)
    expect(lines).toHaveLength(10_000)
    const seen = new Map<unknown, Record<string, unknown>>()
    for (const l of lines) seen.set(l.id, l)
    expect(seen.size).toBe(10_000)
    for (let i = 0; i < 10_000; i++) {
      expect(seen.get(`r${i}`)).toMatchObject({ action: 'echo', status: 200, payload: { n: i, s: 'x'.repeat(i % 7) } })
    }
  })

  it('keeps input order at concurrency 1, also for ACTION JSON lines; ids default to line numbers', async () => {
    // One request in the middle is slow: only in-order sending keeps the output in order.
    const input = Array.from({ length: 500 }, (_, i) => (i % 2 ? `echo ${i}` : JSON.stringify({ action: i === 250 ? 'slow' : 'echo', payload: i }))).join('\n')
    const run = await runCli(['connect', url], { stdin: input })
    expect(run.code).toBe(0)
    const lines = ndjson(run.stdout)
    expect(lines.map((l) => l.payload)).toEqual(Array.from({ length: 500 }, (_, i) => i))
    expect(lines.map((l) => l.id)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1))
  })

  it('waits at end of input for slow replies, shows pushes from serve (--wait); a malformed line is an error with its line number', async () => {
    const cli = liveCli(['connect', url, '-c', '8', '--wait', '1s', '--no-fail'])
    cli.write('{"action":"echo","payload":0,"id":"first"}\n')
    await cli.waitFor((l) => l.id === 'first')
    serve.child.stdin.write('{"action":"news","payload":{"headline":"hi"},"to":"all"}\n')
    cli.write([
      '{"action":"slow","payload":1,"id":"a"}',
      '{"action":"slow","payload":2,"id":"b"',
      '',
      '{"payload":3,"id":"c"}',
      '{"action":"slow","payload":4,"id":{"k":[1]}}',
      '{"action":"echo","payload":{"big":123456789012345678901234567890},"id":"big"}',
    ].join('\n'))
    cli.end()
    const run = await cli.done
    expect(run.code).toBe(0)
    const lines = ndjson(run.stdout)
    expect(lines).toContainEqual({ kind: 'push', action: 'news', payload: { headline: 'hi' } })
    const errors = lines.filter((l) => l.error).map((l) => ({ id: l.id, code: (l.error as { code: string }).code, line: (l.error as { line: number }).line }))
    expect(errors).toEqual([{ id: undefined, code: 'BAD_INPUT', line: 3 }, { id: 'c', code: 'BAD_INPUT', line: 5 }])
    expect(lines.filter((l) => l.status === 200).map((l) => [l.id, l.payload])).toEqual(expect.arrayContaining([['a', 1], [{ k: [1] }, 4]]))
    expect(lines.filter((l) => l.status === 200)).toHaveLength(4)
    // The payload went out as written and came back as sent: every digit of a big integer kept.
    expect(run.stdout).toContain('"payload":{"big":123456789012345678901234567890}')
    // Without --no-fail, bad input lines exit 2.
    expect((await runCli(['connect', url], { stdin: '{"action":"x"}\nnot json {\n{]\n' })).code).toBe(2)
  })

  it('exit codes: refused → 3; a 404 among replies → 6; a 500 → 7 (before 6); a timeout → 4 (before 7); --no-fail → 0', async () => {
    const port = await freePort()
    const refused = await runCli(['connect', `tcp://127.0.0.1:${port}`], { stdin: '{"action":"a"}\n' })
    expect(refused.code).toBe(3)
    expect(refused.stdout).not.toContain('"status"')
    const mixed = 'a 1\nmissing 2\na 3\n'
    const r404 = await runCli(['connect', url], { stdin: mixed })
    expect(r404.code).toBe(6)
    expect(ndjson(r404.stdout).map((l) => l.status)).toEqual([200, 404, 200])
    expect((await runCli(['connect', url, '-c', '4'], { stdin: `${mixed}boom 4\n` })).code).toBe(7)
    const all = `${mixed}boom 4\n{"action":"hang","id":"h"}\n`
    const timeout = await runCli(['connect', url, '--timeout', '300ms', '-c', '4'], { stdin: all })
    expect(timeout.code).toBe(4)
    expect(ndjson(timeout.stdout)).toContainEqual(expect.objectContaining({ id: 'h', action: 'hang', error: expect.objectContaining({ code: 'TIMEOUT' }) }))
    expect((await runCli(['connect', url, '--timeout', '300ms', '-c', '4', '--no-fail'], { stdin: all })).code).toBe(0)
  })
})

describe('connect in a pipe, server to client', SLOW, () => {
  it('shows pushes and requests from the server as lines (with --wait); replies to them from the input', async () => {
    const { url } = await server({
      onConnection: (session) => setTimeout(() => {
        session.push('news', Buffer.from('{"headline":"hi"}'))
        void session.request('ask', Buffer.from('"q"')).then((res) => session.push('answered', Buffer.from(JSON.stringify(res.status))))
      }, 100),
    })
    const cli = liveCli(['connect', url, '--wait', '300ms'])
    const ask = await cli.waitFor((l) => l.kind === 'request')
    expect(ask).toMatchObject({ kind: 'request', action: 'ask', payload: 'q' })
    cli.write(`${JSON.stringify({ reply: ask.id, status: 201, payload: { ok: true } })}\n`)
    cli.end()
    const run = await cli.done
    expect(run.code).toBe(0)
    const lines = ndjson(run.stdout)
    expect(lines).toContainEqual({ kind: 'push', action: 'news', payload: { headline: 'hi' } })
    expect(lines).toContainEqual({ kind: 'push', action: 'answered', payload: 201 })
  })

  it('--auto-reply answers requests from the server', async () => {
    const statuses: number[] = []
    const { url } = await server({
      onConnection: (session) => { void session.request('ask', Buffer.from('1')).then((r) => statuses.push(r.status)) },
    })
    const run = await runCli(['connect', url, '--auto-reply', '204', '--wait', '200ms'], { stdin: '' })
    expect(run.code).toBe(0)
    expect(ndjson(run.stdout)).toEqual([{ kind: 'request', id: 1, action: 'ask', payload: 1, replied: 204 }])
    expect(statuses).toEqual([204])
  })
})

describe('connect in a pipe, server closes', SLOW, () => {
  it('a server that closes with 1000 after answering is not a failure; one that drops the connection is (3)', async () => {
    const { url } = await server({ handler: (r, session) => {
      setTimeout(() => void (r.action === 'bye' ? session.close(1000, 'bye') : session.transport.destroy()), 50)
      return { status: 200, payload: r.payload }
    } })
    const clean = await runCli(['connect', url, '--wait', '500ms'], { stdin: 'bye 1\n' })
    expect(clean.code).toBe(0)
    expect(ndjson(clean.stdout)).toEqual([expect.objectContaining({ status: 200, payload: 1 })])
    const dropped = await runCli(['connect', url, '--wait', '500ms'], { stdin: 'drop 1\n' })
    expect(dropped.code).toBe(3)
  })
})

describe('connect in a pipe, output closed early', SLOW, () => {
  it('stops quietly when the reader goes away (EPIPE, as with | head -1)', async () => {
    const { url } = await server()
    const child = spawnCli(['connect', url, '-c', '16'])
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.stdin.on('error', () => undefined)
    child.stdin.end(`${Array.from({ length: 20_000 }, (_, i) => `echo ${i}`).join('\n')}\n`)
    const first = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())))
    expect(JSON.parse(first.split('\n')[0])).toMatchObject({ status: 200 })
    child.stdout.destroy()
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
    // A closed stdout ends every command with 141, as if by SIGPIPE (bin/run.js, docs/exit-codes.md).
    expect(code).toBe(141)
    expect(stderr).toBe('')
  })
})

describe('connect --reconnect', SLOW, () => {
  it('keeps lines written before serve listens and sends them once it does', async () => {
    const port = await freePort()
    const input = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: i, action: 'echo', payload: i })).join('\n')
    const cli = liveCli(['connect', `tcp://127.0.0.1:${port}`, '--reconnect', '--reconnect-attempts', '0', '--reconnect-delay', '50ms', '--reconnect-max-delay', '200ms', '-c', '4'])
    cli.write(input)
    cli.end()
    await cli.waitForStderr('reconnecting')
    const serve = await startServe([`tcp://127.0.0.1:${port}`])
    try {
      const run = await cli.done
      expect(run.code).toBe(0)
      const lines = ndjson(run.stdout)
      const responses = lines.filter((l) => l.status === 200)
      expect(responses.map((l) => l.id).sort((x, y) => Number(x) - Number(y))).toEqual(Array.from({ length: 50 }, (_, i) => i))
      expect(responses.every((l) => l.payload === l.id)).toBe(true)
      expect(lines.filter((l) => l.kind === 'reconnect').length).toBeGreaterThan(0)
    } finally {
      await serve.stop()
    }
  })

  it('resumes after serve is killed and restarted on the same port: in-flight requests fail, later ones succeed', async () => {
    const dir = tempDir('stmpcat-connect-')
    writeFileSync(join(dir, 'routes.yaml'), 'hang:\n  delay: 60s\n"*":\n  reply: "{{payload}}"\n')
    const first = await startServe(['tcp://127.0.0.1:0', '--routes', join(dir, 'routes.yaml')])
    const url = first.urls[0]
    const cli = liveCli(['connect', url, '--reconnect', '--reconnect-attempts', '0', '--reconnect-delay', '50ms', '--reconnect-max-delay', '200ms', '-c', '4'])
    cli.write('{"id":"before","action":"echo","payload":1}\n{"id":"h","action":"hang","payload":2}\n')
    await cli.waitFor((l) => l.id === 'before')
    await sleep(200) // "hang" is in flight
    await first.stop('SIGKILL')
    const lost = await cli.waitFor((l) => l.id === 'h')
    expect((lost.error as { code: string }).code).toMatch(/^CONNECTION_(CLOSED|RESET)$/)
    const second = await startServe([url, '--routes', join(dir, 'routes.yaml')])
    try {
      cli.write('{"id":"after","action":"echo","payload":3}\n')
      cli.end()
      const run = await cli.done
      const lines = ndjson(run.stdout)
      expect(lines).toContainEqual(expect.objectContaining({ id: 'after', status: 200, payload: 3 }))
      expect(lines.some((l) => l.kind === 'disconnect')).toBe(true)
      expect(lines.some((l) => l.kind === 'connect')).toBe(true)
      // A request lost to the drop is a connection failure (3), unless --no-fail.
      expect(run.code).toBe(3)
    } finally {
      await second.stop()
    }
  })

  it('--retry re-sends a request that was in flight when the connection dropped', async () => {
    let calls = 0
    const first = await server({ handler: async (r) => {
      calls++
      await sleep(60_000)
      return { status: 200, payload: r.payload }
    } })
    const cli = liveCli(['connect', first.url, '--reconnect', '--retry', '--reconnect-delay', '50ms'])
    cli.write('{"id":"r","action":"work","payload":7}\n')
    cli.end()
    while (calls === 0) await sleep(20)
    await crash(first.server)
    await server({}, first.port)
    const run = await cli.done
    expect(run.code).toBe(0)
    expect(ndjson(run.stdout).filter((l) => !l.kind)).toEqual([expect.objectContaining({ id: 'r', status: 200, payload: 7 })])
  })

  it('gives up after --reconnect-attempts and exits 3', async () => {
    const port = await freePort()
    const run = await runCli(['connect', `tcp://127.0.0.1:${port}`, '--reconnect', '--reconnect-attempts', '2', '--reconnect-delay', '20ms'], { stdin: '{"action":"a","id":1}\n' })
    expect(run.code).toBe(3)
    const lines = ndjson(run.stdout)
    expect(lines.filter((l) => l.kind === 'reconnect').map((l) => l.attempt)).toEqual([1, 2])
    expect(lines).toContainEqual(expect.objectContaining({ id: 1, error: expect.objectContaining({ code: 'CONNECT_FAILED' }) }))
  })
})
