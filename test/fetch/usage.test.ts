import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { jsonErrorCode, startServer } from './helpers.js'

/** fetch and push as a new user types them (issue 18 points 11, 12 and 13). */

describe('stdin is the payload only with -d @- (point 11)', { timeout: 120_000 }, () => {
  // `echo test.echo | stmpcat fetch :5000` sent the action "test.echo"; `echo '{"a":1}' | ...`
  // sent the action '{"a":1}': oclif read piped stdin as the missing ACTION argument.
  it.each([
    ['fetch', 'test.echo\n'],
    ['fetch', '{"a":1}\n'],
    ['push', 'test.echo\n'],
    ['push', '{"a":1}\n'],
  ])('%s URL with %j on stdin and no ACTION: USAGE, exit 2, nothing sent', async (command, stdin) => {
    const actions: string[] = []
    const { url, connections } = await startServer('tcp://127.0.0.1:0', {
      handler: {
        request: (r) => { actions.push(r.action); return { status: 200, payload: r.payload } },
        push: (p) => { actions.push(p.action) },
      },
    })
    const run = await runCli([command, url], { stdin })
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/^stmpcat: USAGE: Missing 1 required arg:\naction /)
    expect(run.stdout).toBe('')
    const json = await runCli([command, url, '--json'], { stdin })
    expect([json.code, jsonErrorCode(json.stdout)]).toEqual([2, 'USAGE'])
    expect(actions).toEqual([])
    expect(connections()).toBe(0)
  })

  it('with -d @- (given before the arguments too) stdin is the payload', async () => {
    const seen: string[] = []
    const { url } = await startServer('tcp://127.0.0.1:0', { handler: (r) => { seen.push(`${r.action} ${r.payload.toString()}`); return { status: 200, payload: r.payload } } })
    const run = await runCli(['fetch', '-d', '@-', url, 'test.echo'], { stdin: '{"a":1}\n' })
    expect([run.code, run.stdout]).toEqual([0, '{"a":1}\n'])
    expect(seen).toEqual(['test.echo {"a":1}\n'])
  })
})

describe('a port out of range says so (point 12)', { timeout: 120_000 }, () => {
  it.each(['tcp://127.0.0.1:99999', 'ws://127.0.0.1:99999/stmp', '127.0.0.1:99999', ':99999'])('fetch %s: BAD_URL "port 99999 is out of range", exit 2', async (url) => {
    const run = await runCli(['fetch', url, 'a'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/^stmpcat: BAD_URL: .*port 99999 is out of range/)
    expect(run.stderr).not.toMatch(/not a URL/)
  })
})

describe('colour: one policy for every command (point 13)', { timeout: 120_000 }, () => {
  // fetch in a pipe ignored FORCE_COLOR while decode and bench honoured it.
  it('FORCE_COLOR colours the one-line JSON in a pipe; NO_COLOR and no variable give plain text', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0')
    const payload = '{"a":[1,"x",true,null],"b":{}}'
    const forced = await runCli(['fetch', url, 'test.echo', payload], { env: { FORCE_COLOR: '1', NO_COLOR: undefined } })
    expect(forced.code).toBe(0)
    expect(forced.stdout).toContain('\u001b[')
    expect(forced.stdout.split('\n')).toHaveLength(2)
    // eslint-disable-next-line no-control-regex
    expect(forced.stdout.replace(/\u001b\[\d+m/g, '')).toBe(`${payload}\n`)
    for (const env of [{ NO_COLOR: '1' }, { NO_COLOR: undefined }, { FORCE_COLOR: '0', NO_COLOR: undefined }]) {
      const plain = await runCli(['fetch', url, 'test.echo', payload], { env })
      expect([plain.code, plain.stdout]).toEqual([0, `${payload}\n`])
    }
    // --json is data for programs: never coloured off a terminal.
    const json = await runCli(['fetch', url, 'test.echo', payload, '--json'], { env: { FORCE_COLOR: '1', NO_COLOR: undefined } })
    expect(json.stdout).not.toContain('\u001b[')
  })
})
