import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'
import { jsonErrorCode, startRawServer, startServer, tempDir } from './helpers.js'

/** Every exit code of the table (docs/exit-codes.md), through the built CLI. */
describe('fetch exit codes', { timeout: 120_000 }, () => {
  it('0: success', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0')
    const run = await runCli(['fetch', url, 'a', '1'])
    expect([run.code, run.stdout, run.stderr]).toEqual([0, '1\n', ''])
  })

  it('2: bad URL, bad flag, bad JSON data, missing @file; nothing is dialled', async () => {
    const { url, connections } = await startServer('tcp://127.0.0.1:0')
    const runs = await Promise.all([
      runCli(['fetch', 'foo://127.0.0.1:1', 'a', '1', '--json']),
      runCli(['fetch', 'tcp://127.0.0.1', 'a', '1', '--json']),
      runCli(['fetch', url, 'a', '1', '--timeout', 'soon', '--json']),
      runCli(['fetch', url, 'a', '1', '--format', 'sideways']),
      runCli(['fetch', url, 'a', '{"unclosed": ', '--json']),
      runCli(['fetch', url, 'a', '-d', `@${join(tempDir(), 'missing.json')}`, '--json']),
    ])
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2])
    expect(jsonErrorCode(runs[0].stdout)).toBe('BAD_URL')
    expect(jsonErrorCode(runs[1].stdout)).toBe('BAD_URL')
    expect(jsonErrorCode(runs[2].stdout)).toBe('BAD_FLAG')
    expect(runs[3].stderr).toMatch(/^stmpcat: USAGE: /)
    expect(jsonErrorCode(runs[4].stdout)).toBe('BAD_PAYLOAD')
    expect(jsonErrorCode(runs[5].stdout)).toBe('BAD_FILE')
    expect(connections()).toBe(0)
  })

  it('2: bad JSON data opens no TCP connection at all', async () => {
    const raw = await startRawServer((s) => s.destroy())
    const run = await runCli(['fetch', raw.url, 'a', '{bad'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/^stmpcat: BAD_PAYLOAD: /)
    expect(raw.accepted()).toBe(0)
  })

  it('3: nothing listening; token refused', async () => {
    const raw = await startRawServer(() => undefined)
    const sock = `unix:${join(tempDir(), 'none.sock')}`
    const { url } = await startServer('tcp://127.0.0.1:0', { token: 'right' })
    const ws = await startServer('ws://127.0.0.1:0/stmp', { token: 'right' })
    const [unix, refused, wsRefused] = await Promise.all([
      runCli(['fetch', sock, 'a', '1', '--json']),
      runCli(['fetch', url, 'a', '1', '--token', 'wrong', '--json']),
      runCli(['fetch', ws.url, 'a', '1', '--json']),
    ])
    expect(raw.accepted()).toBe(0)
    expect([unix.code, jsonErrorCode(unix.stdout)]).toEqual([3, 'CONNECT_FAILED'])
    expect([refused.code, jsonErrorCode(refused.stdout)]).toEqual([3, 'HANDSHAKE_REFUSED'])
    expect(JSON.parse(refused.stdout).error.status).toBe(401)
    expect([wsRefused.code, jsonErrorCode(wsRefused.stdout)]).toEqual([3, 'HANDSHAKE_REFUSED'])
  })

  it('4: a handler that never answers, --timeout 200ms', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0', { handler: () => new Promise(() => undefined) })
    const run = await runCli(['fetch', url, 'hang', '1', '--timeout', '200ms', '--json'])
    expect([run.code, jsonErrorCode(run.stdout)]).toEqual([4, 'TIMEOUT'])
  })

  it('5: a server that answers the handshake, then sends garbage', async () => {
    const raw = await startRawServer((socket) => {
      let answered = false
      socket.on('data', () => {
        if (!answered) {
          answered = true
          socket.write(Buffer.from('0400c84f4b', 'hex')) // handshake accepted, "OK" (wire notes §8)
        } else {
          socket.write(Buffer.from('02ffff', 'hex')) // head 0xff: reserved bits and kind 7
        }
      })
    })
    const run = await runCli(['fetch', raw.url, 'a', '1'])
    expect(run.code).toBe(5)
    expect(run.stdout).toBe('')
    expect(run.stderr).toMatch(/^stmpcat: [A-Z_]+: /)
  })

  it('6: 404 for an unknown action; 7: a handler failing with 500', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0', {
      handler: (r) => {
        if (r.action === 'known') return { status: 200, payload: r.payload }
        if (r.action === 'broken') throw new Error('handler exploded')
        return { status: 404, payload: Buffer.from(`no handler for ${r.action}`) }
      },
    })
    const [missing, missingJson, broken, brokenJson] = await Promise.all([
      runCli(['fetch', url, 'unknown.action', '{}']),
      runCli(['fetch', url, 'unknown.action', '{}', '--json']),
      runCli(['fetch', url, 'broken', '{}']),
      runCli(['fetch', url, 'broken', '{}', '--json']),
    ])
    expect([missing.code, missing.stdout]).toEqual([6, ''])
    expect(missing.stderr).toMatch(/^stmpcat: STATUS: 404 /)
    expect(missingJson.code).toBe(6)
    expect(JSON.parse(missingJson.stdout)).toMatchObject({ status: 404, action: 'unknown.action', payload: 'no handler for unknown.action' })
    expect([broken.code, broken.stdout]).toEqual([7, ''])
    expect(broken.stderr).toMatch(/^stmpcat: STATUS: 500 /)
    expect(brokenJson.code).toBe(7)
    expect(JSON.parse(brokenJson.stdout)).toMatchObject({ status: 500, payload: 'handler exploded' })
  })
})
