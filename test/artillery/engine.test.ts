import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import net from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { ROOT, startServe, type ServeProcess } from '../helpers/cli.js'

/**
 * The engine in this process, driven as Artillery drives it (new Engine(script, ee, engineUtil),
 * createScenario(spec, ee), one call per VU) with Artillery's own engineUtil, against real
 * servers: `stmpcat serve`, or a raw TCP peer that speaks ndjson badly on purpose. The e2e tests
 * run the real `artillery run`; these reach the error paths in a fraction of the time.
 */
const require = createRequire(import.meta.url)
// The package as Artillery resolves it: node_modules/artillery-engine-stmp (the workspace link).
const Engine = require('artillery-engine-stmp') as new (script: unknown, ee: EventEmitter, util: unknown) => {
  createScenario(spec: unknown, ee: EventEmitter): (context: unknown, cb: (err: (Error & { code?: string }) | null, ctx: unknown) => void) => void
}
// What Artillery 2.0.21 hands every engine as its third argument (int-core lib/runner.js).
const engineUtil = (require('@artilleryio/int-commons') as { engine_util: unknown }).engine_util

interface Vu { err: (Error & { code?: string }) | null; counters: Record<string, number>; histograms: Record<string, number[]>; vars: Record<string, unknown> }

function runVu(config: Record<string, unknown>, flow: unknown[], vars: Record<string, unknown> = {}, spec: Record<string, unknown> = {}): Promise<Vu> {
  const ee = new EventEmitter()
  const counters: Record<string, number> = {}
  const histograms: Record<string, number[]> = {}
  ee.on('counter', (name: string, value: number) => { counters[name] = (counters[name] ?? 0) + value })
  ee.on('error', (code: string) => { counters[`errors.${code}`] = (counters[`errors.${code}`] ?? 0) + 1 })
  ee.on('histogram', (name: string, value: number) => { (histograms[name] ??= []).push(value) })
  const engine = new Engine({ config }, ee, engineUtil)
  const scenario = engine.createScenario({ engine: 'stmp', ...spec, flow }, ee)
  const context = { vars: { ...vars }, funcs: {} }
  return new Promise((resolve) => scenario(context, (err) => resolve({ err, counters, histograms, vars: context.vars })))
}

/** A TCP peer that answers every ndjson request line with what `answer` returns for its id. */
function rawNdjson(answer: (id: number) => string): Promise<{ url: string; close(): Promise<void> }> {
  return new Promise((resolve) => {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((socket) => {
      sockets.add(socket)
      let buffered = ''
      socket.setEncoding('utf8').on('data', (d: string) => {
        buffered += d
        let nl
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = JSON.parse(buffered.slice(0, nl)) as { id?: number; close?: number }
          buffered = buffered.slice(nl + 1)
          if (line.close !== undefined) socket.end()
          else if (line.id !== undefined) socket.write(answer(line.id))
        }
      })
      socket.on('error', () => undefined)
    })
    server.listen(0, '127.0.0.1', () => resolve({
      url: `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
      close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()) }),
    }))
  })
}

let serve: ServeProcess | undefined
afterEach(async () => {
  await serve?.stop('SIGKILL')
  serve = undefined
})

describe('artillery-engine-stmp in process', () => {
  test('request: metrics by name and kind (response time in ms with µs precision), capture into vars, expect', async () => {
    serve = await startServe(['tcp://127.0.0.1:0'])
    const vu = await runVu({ target: serve.urls[0], engines: { stmp: {} } }, [
      { request: { action: 'test.echo', payload: { a: { b: 42 } }, capture: { json: '$.a.b', as: 'b' }, expect: { status: 200, hasProperty: 'a.b' } } },
      { request: { action: 'test.echo', payload: '{"again":"{{ b }}"}', expect: { payload: { again: '42' } } } },
    ])
    expect(vu.err).toBeNull()
    expect(vu.vars.b).toBe(42)
    expect(vu.counters).toMatchObject({ 'stmp.requests': 2, 'stmp.responses': 2, 'stmp.codes.200': 2, 'stmp.expect.ok': 3, 'stmp.connections': 1 })
    expect(vu.histograms['stmp.response_time']).toHaveLength(2)
    expect(vu.histograms['stmp.connect_time']).toHaveLength(1)
    for (const t of vu.histograms['stmp.response_time']) {
      expect(t).toBeGreaterThan(0)
      expect(Math.round(t * 1000) / 1000).toBe(t)
    }
  })

  test('expect failures end the VU with their own codes: EXPECT_PAYLOAD, EXPECT_PROPERTY', async () => {
    serve = await startServe(['tcp://127.0.0.1:0'])
    const config = { target: serve.urls[0], engines: { stmp: {} } }
    const payload = await runVu(config, [{ request: { action: 'test.echo', payload: { a: 1 }, expect: { payload: { a: 2 } } } }, { ping: {} }])
    expect(payload.err?.code).toBe('EXPECT_PAYLOAD')
    expect(payload.counters['errors.EXPECT_PAYLOAD']).toBe(1)
    expect(payload.counters['stmp.pings']).toBeUndefined()
    const property = await runVu(config, [{ request: { action: 'test.echo', payload: { a: 1 }, expect: { hasProperty: 'a.b' } } }])
    expect(property.err?.code).toBe('EXPECT_PROPERTY')
    expect(property.counters['stmp.expect.failed']).toBe(1)
  })

  test('rooms in a dialect without them, a push that never comes, a bad loop duration: coded errors, not crashes', async () => {
    serve = await startServe(['tcp://127.0.0.1:0'])
    const config = { target: serve.urls[0], engines: { stmp: { timeout: '2s' } } }
    const join = await runVu(config, [{ join: 'lobby' }])
    expect(join.err?.code).toBe('BAD_INPUT')
    expect(join.counters['errors.BAD_INPUT']).toBe(1)
    const started = performance.now()
    const wait = await runVu(config, [{ waitForPush: { action: 'never', timeout: '150ms' } }])
    expect(wait.err?.code).toBe('PUSH_TIMEOUT')
    expect(performance.now() - started).toBeLessThan(5000)
    const loop = await runVu(config, [{ loop: [{ ping: {} }], duration: 'soon' }])
    expect(loop.err?.code).toBe('BAD_INPUT')
  })

  test('engines.stmp is checked as the CLI checks its flags: an unknown dialect, a flag the dialect lacks, an unknown content type are BAD_FLAG', async () => {
    for (const stmp of [{ dialect: 'nope' }, { dialect: 'ndjson', token: 't' }, { contentType: 'yaml' }]) {
      const vu = await runVu({ target: 'tcp://127.0.0.1:1', engines: { stmp } }, [{ ping: {} }])
      expect(vu.err?.code, JSON.stringify(stmp)).toBe('BAD_FLAG')
      expect(vu.counters['errors.BAD_FLAG']).toBe(1)
    }
    const noTarget = await runVu({ engines: { stmp: {} } }, [{ ping: {} }])
    expect(noTarget.err?.code).toBe('BAD_URL')
  })

  test('an unknown step is refused when the scenario is compiled, naming the steps there are', () => {
    const engine = new Engine({ config: { target: 'tcp://127.0.0.1:1' } }, new EventEmitter(), engineUtil)
    expect(() => engine.createScenario({ flow: [{ fetch: 'x' }] }, new EventEmitter())).toThrow(/unknown step .*request, push, ping/)
  })

  test('a peer whose answer payload is not JSON (bytes that break the content type): BAD_PAYLOAD, counted, the VU ends', async () => {
    const peer = await rawNdjson((id) => `{"id":${id},"status":200,"payloadBase64":"${Buffer.from([0xff, 0x00, 0x41]).toString('base64')}"}\n`)
    try {
      const vu = await runVu({ target: peer.url, engines: { stmp: { dialect: 'ndjson', timeout: '2s' } } }, [{ request: { action: 'x', payload: {} } }])
      expect(vu.err?.code).toBe('BAD_PAYLOAD')
      expect(vu.counters['errors.BAD_PAYLOAD']).toBe(1)
      expect(vu.counters['stmp.responses']).toBe(1)
    } finally {
      await peer.close()
    }
  })

  test('a peer that sends a line that is not ndjson: the session\'s protocol error code, no response counted', async () => {
    const peer = await rawNdjson(() => 'this is not json\n')
    try {
      const vu = await runVu({ target: peer.url, engines: { stmp: { dialect: 'ndjson', timeout: '2s' } } }, [{ request: { action: 'x', payload: {} } }])
      expect(vu.err?.code).toBe('BAD_MESSAGE')
      expect(vu.counters['errors.BAD_MESSAGE']).toBe(1)
      expect(vu.counters['stmp.requests']).toBe(1)
      expect(vu.counters['stmp.responses']).toBeUndefined()
    } finally {
      await peer.close()
    }
  })

  test('pushes waiting for a waitForPush are bounded: past 1,000 the oldest are dropped and counted', async () => {
    const pushes = Array.from({ length: 1005 }, (_, i) => `{"action":"tick","payload":{"n":${i}}}\n`).join('')
    const peer = await rawNdjson((id) => `${pushes}{"id":${id},"status":200,"payload":null}\n`)
    try {
      const vu = await runVu({ target: peer.url, engines: { stmp: { dialect: 'ndjson' } } }, [
        { request: { action: 'subscribe' } },
        { waitForPush: { action: 'tick', capture: { json: '$.n', as: 'first' } } },
      ])
      expect(vu.err).toBeNull()
      expect(vu.counters['stmp.pushes_received']).toBe(1005)
      expect(vu.counters['stmp.pushes_dropped']).toBe(5)
      // The five oldest went: the first one left is n = 5.
      expect(vu.vars.first).toBe(5)
    } finally {
      await peer.close()
    }
  })

  test('beforeScenario and afterScenario hooks run around the connection; a processor function sets what the payload sends', async () => {
    serve = await startServe(['tcp://127.0.0.1:0'])
    const calls: string[] = []
    const processor = {
      before(context: { vars: Record<string, unknown> }, _ee: unknown, next: () => void) { calls.push('before'); context.vars.who = 'ann'; next() },
      async after() { calls.push('after') },
      pick(context: { vars: Record<string, unknown> }, _ee: unknown, next: () => void) { calls.push('pick'); context.vars.n = 3; next() },
    }
    const vu = await runVu({ target: serve.urls[0], processor, engines: { stmp: {} } }, [
      { function: 'pick' },
      { request: { action: 'test.echo', payload: { who: '{{ who }}', n: '{{ n }}' }, expect: { payload: { who: 'ann', n: 3 } } } },
    ], {}, { beforeScenario: 'before', afterScenario: ['after'] })
    expect(vu.err).toBeNull()
    expect(calls).toEqual(['before', 'pick', 'after'])
    const missing = await runVu({ target: serve.urls[0], processor, engines: { stmp: {} } }, [{ function: 'nope' }])
    expect(missing.err?.code).toBe('BAD_FUNCTION')
  })

  test('protobuf payloads with engines.stmp proto (examples/echo.proto) against serve --proto', async () => {
    const proto = join(ROOT, 'examples/echo.proto')
    serve = await startServe(['tcp://127.0.0.1:0', '--proto', proto])
    const vu = await runVu({ target: serve.urls[0], engines: { stmp: { contentType: 'protobuf', proto } } }, [
      { request: { action: 'echo.v1.Echo/Say', payload: { text: 'hi', tags: ['a'] }, capture: { json: '$.text', as: 'text' }, expect: { payload: { text: 'hi', id: '0', tags: ['a'] } } } },
    ])
    expect(vu.err).toBeNull()
    expect(vu.vars.text).toBe('hi')
  })

  test('a first connect step overrides the target and engines.stmp for its scenario; anywhere else it is refused', async () => {
    serve = await startServe(['ws://127.0.0.1:0/x', '--dialect', 'ndjson'])
    const vu = await runVu({ target: 'tcp://127.0.0.1:1', engines: { stmp: { dialect: 'stmp-v3' } } }, [
      { connect: { target: serve.urls[0], dialect: 'ndjson' } },
      { request: { action: 'test.echo', payload: { ok: 1 }, expect: { payload: { ok: 1 } } } },
    ])
    expect(vu.err).toBeNull()
    expect(vu.counters['stmp.connections']).toBe(1)
    const engine = new Engine({ config: { target: 'tcp://127.0.0.1:1' } }, new EventEmitter(), engineUtil)
    expect(() => engine.createScenario({ flow: [{ ping: {} }, { connect: 'tcp://127.0.0.1:2' }] }, new EventEmitter())).toThrow(/connect is implicit/)
  })
})
