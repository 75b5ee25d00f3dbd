import { echoHandler } from '../../src/lib/session/server.js'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseDuration, parseTimeout } from '../../src/lib/flag-values.js'
import { ROOT, runCli, startServe } from '../helpers/cli.js'
import { codeOf } from '../helpers/errors.js'
import { startServer } from '../fetch/helpers.js'

/**
 * Flags and arguments the way every command parses them (issue 18 points 11, 13 and 20):
 * curl-style order (flags before the positional arguments), stdin never taken as an argument,
 * one rule for durations, help and a "did you mean" for a mistyped command.
 */

const PROTO = join(ROOT, 'examples/echo.proto')
const CAPTURE = join(ROOT, 'test/fixtures/captures/tcp.pcap')

interface FlagDef { multiple?: boolean; multipleNonGreedy?: boolean }
interface ArgDef { ignoreStdin?: boolean }
async function commands(): Promise<[string, { flags: Record<string, FlagDef>; args?: Record<string, ArgDef> }][]> {
  const dir = join(ROOT, 'src/commands')
  const names = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort()
  return Promise.all(names.map(async (name) => [name, (await import(join(dir, `${name}.ts`))).default] as [string, { flags: Record<string, FlagDef>; args?: Record<string, ArgDef> }]))
}

describe('every command declares its flags and arguments for curl-style use', () => {
  it('each multiple-value flag takes one value per occurrence (multipleNonGreedy)', async () => {
    const list = await commands()
    expect(list.map(([name]) => name)).toEqual(['bench', 'connect', 'decode', 'dialects', 'fetch', 'help', 'push', 'serve'])
    const greedy = list.flatMap(([name, c]) => Object.entries(c.flags).filter(([, f]) => f.multiple && !f.multipleNonGreedy).map(([flag]) => `${name} --${flag}`))
    expect(greedy).toEqual([])
    // The rule covers something: the shared client flags and decode's filters are repeatable.
    expect(list.flatMap(([, c]) => Object.values(c.flags).filter((f) => f.multiple)).length).toBeGreaterThan(10)
  })

  it('no argument is ever read from piped stdin (ignoreStdin)', async () => {
    const reading = (await commands()).flatMap(([name, c]) => Object.entries(c.args ?? {}).filter(([, a]) => !a.ignoreStdin).map(([arg]) => `${name} ${arg}`))
    expect(reading).toEqual([])
  })
})

describe('flags before the positional arguments (point 20)', { timeout: 120_000 }, () => {
  it('fetch -H, --ca and --proto first, then URL ACTION DATA', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0', {
      handler: (r, session) => ({ status: 200, payload: Buffer.from(JSON.stringify({ action: r.action, trace: session.headers['x-trace'], got: r.payload.toString() })) }),
    })
    const run = await runCli(['fetch', '-H', 'X-Trace: 1', '--ca', PROTO, '--proto', PROTO, '-I', join(ROOT, 'examples'), url, 'test.echo', '{"n":1}'])
    expect(run.stderr).toBe('')
    expect([run.code, JSON.parse(run.stdout)]).toEqual([0, { action: 'test.echo', trace: '1', got: '{"n":1}' }])
  })

  it('push --proto and -H first', async () => {
    const pushes: string[] = []
    const headers: (string | undefined)[] = []
    const { url } = await startServer('tcp://127.0.0.1:0', {
      onConnection: (s) => headers.push(s.headers['x-trace']),
      handler: { ...echoHandler, push: (p) => { pushes.push(`${p.action} ${p.payload.toString()}`) } },
    })
    const run = await runCli(['push', '--proto', PROTO, '-H', 'X-Trace: 2', url, 'alert.raise', '{"n":2}'])
    expect([run.code, run.stderr]).toEqual([0, ''])
    expect(pushes).toEqual(['alert.raise {"n":2}'])
    expect(headers).toEqual(['2'])
  })

  it('connect -H first, then URL', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0', {
      handler: (_r, session) => ({ status: 200, payload: Buffer.from(JSON.stringify(session.headers['x-trace'])) }),
    })
    const run = await runCli(['connect', '-H', 'X-Trace: 3', url], { stdin: '{"action":"a"}\n' })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout.trim())).toMatchObject({ status: 200, payload: '3' })
  })

  it('bench -H and --ca first, then URL', async () => {
    const headers: (string | undefined)[] = []
    const { url } = await startServer('tcp://127.0.0.1:0', { onConnection: (s) => headers.push(s.headers['x-trace']) })
    const run = await runCli(['bench', '-H', 'X-Trace: 4', '--ca', PROTO, url, '-n', '20', '-c', '1', '--json'])
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ target: { url, embedded: false } })
    expect(headers.length).toBeGreaterThan(0)
    expect(new Set(headers)).toEqual(new Set(['4']))
  })

  it('serve --proto and -I first, then the URLs to listen on', async () => {
    const p = await startServe(['--proto', PROTO, '-I', join(ROOT, 'examples'), 'tcp://127.0.0.1:0', 'ws://127.0.0.1:0/stmp'], 2)
    try {
      expect(p.urls).toHaveLength(2)
      expect(p.urls[0]).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/)
      expect(p.urls[1]).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/stmp$/)
      expect(p.urls[0]).not.toBe('tcp://127.0.0.1:5000')
    } finally {
      await p.stop()
    }
  })

  it('decode --status, --kind and --proto first, then FILE: the same output as after it', async () => {
    const after = await runCli(['decode', CAPTURE, '--status', '200', '--kind', 'response,push', '--proto', PROTO, '--json'])
    const before = await runCli(['decode', '--status', '200', '--kind', 'response,push', '--proto', PROTO, CAPTURE, '--json'])
    expect(after.code).toBe(0)
    expect(after.stdout.split('\n').filter(Boolean).length).toBeGreaterThan(1)
    expect(before).toEqual(after)
  })

  it('a missing argument is a plain usage error, without oclif\'s note about flag order', async () => {
    const run = await runCli(['fetch', '-H', 'X-Trace: 1', ':5000'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/^stmpcat: USAGE: Missing 1 required arg:\naction /)
    expect(run.stderr).not.toMatch(/multiple values|Alternatively/)
  })
})

describe('durations: one rule in every command (point 13)', { timeout: 120_000 }, () => {
  it('units: a timeout is at least 1ms; 0 only where a flag says what it means; nothing past the longest timer', () => {
    expect(parseTimeout('1ms')).toBe(1)
    expect(parseTimeout('10s')).toBe(10_000)
    for (const text of ['0', '0s', '0ms', '0.5ms', '500us']) expect(codeOf(() => parseTimeout(text, 'timeout'))).toBe('BAD_FLAG')
    expect(parseDuration('0', 'keepalive')).toBe(0)
    for (const text of ['597h', '1000h']) {
      expect(codeOf(() => parseDuration(text, 'keepalive'))).toBe('BAD_FLAG')
      expect(codeOf(() => parseTimeout(text, 'timeout'))).toBe('BAD_FLAG')
    }
    expect(parseTimeout('596h')).toBe(596 * 3_600_000)
  })

  // fetch accepted --timeout 0 and timed out at once (exit 4) while bench rejected it.
  it.each([
    ['fetch', ['fetch', ':5000', 'a', '--timeout', '0']],
    ['push', ['push', ':5000', 'a', '--timeout', '0']],
    ['connect', ['connect', ':5000', '--timeout', '0', '--no-interactive']],
    ['connect --reconnect-delay', ['connect', ':5000', '--reconnect', '--reconnect-delay', '0', '--no-interactive']],
    ['bench', ['bench', ':5000', '--timeout', '0']],
    ['serve --ping-timeout', ['serve', 'tcp://127.0.0.1:0', '--ping-timeout', '0']],
    ['serve --stats-interval', ['serve', 'tcp://127.0.0.1:0', '--stats', '--stats-interval', '0']],
    ['fetch 1000h', ['fetch', ':5000', 'a', '--timeout', '1000h']],
    ['serve --keepalive 1000h', ['serve', 'tcp://127.0.0.1:0', '--keepalive', '1000h']],
  ])('%s: BAD_FLAG, exit 2, nothing dialled', async (_name, args) => {
    const run = await runCli([...args, '--json'], { timeout: 60_000 })
    expect(run.code).toBe(2)
    expect(JSON.parse(run.stdout).error.code).toBe('BAD_FLAG')
  })
})

describe('help and mistyped commands (point 13)', { timeout: 120_000 }, () => {
  it.each([
    ['help fetch', ['help', 'fetch']],
    ['fetch -h', ['fetch', '-h']],
    ['fetch --help', ['fetch', '--help']],
    ['decode -h', ['decode', '-h']],
  ])('%s prints the usage on stdout, exit 0', async (_name, args) => {
    const run = await runCli(args)
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(new RegExp(`USAGE\\n  \\$ stmpcat ${args.includes('decode') ? 'decode' : 'fetch'} `))
    expect(run.stderr).toBe('')
  })

  it('help and -h alone list every command', async () => {
    for (const args of [['help'], ['-h']]) {
      const run = await runCli(args)
      expect(run.code).toBe(0)
      for (const name of ['bench', 'connect', 'decode', 'dialects', 'fetch', 'help', 'push', 'serve']) expect(run.stdout).toMatch(new RegExp(`^  ${name} `, 'm'))
    }
  })

  it.each([['fetc', 'fetch'], ['fecth', 'fetch'], ['conect', 'connect'], ['serv', 'serve'], ['de', 'decode']])(
    '"%s" is USAGE (exit 2) with "did you mean %s"',
    async (typed, meant) => {
      const run = await runCli([typed, ':5000', 'x'])
      expect(run.code).toBe(2)
      expect(run.stderr).toMatch(new RegExp(`^stmpcat: USAGE: "${typed}" is not a stmpcat command\\. Did you mean "stmpcat ${meant}"\\?`))
      expect(run.stdout).toBe('')
    },
  )

  it('help of a mistyped command is the same USAGE error, exit 2 (not oclif\'s uncoded "Command not found")', async () => {
    const run = await runCli(['help', 'fetc'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/^stmpcat: USAGE: "fetc" is not a stmpcat command\. Did you mean "stmpcat fetch"\?/)
  })

  it('a word near no command lists them; --json gives the error envelope', async () => {
    const run = await runCli(['xyzzy', '--json'])
    expect(run.code).toBe(2)
    const error = JSON.parse(run.stdout).error as { code: string; message: string }
    expect(error.code).toBe('USAGE')
    expect(error.message).not.toMatch(/Did you mean/)
    expect(error.message).toMatch(/bench, connect, decode, dialects, fetch, help, push, serve/)
  })
})

