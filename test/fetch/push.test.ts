import { echoHandler } from '../../src/lib/session/server.js'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Format } from '../../src/lib/codec/index.js'
import { runCli } from '../helpers/cli.js'
import { jsonErrorCode, startRawServer, startServer, tempDir } from './helpers.js'

describe('push', { timeout: 120_000 }, () => {
  const cases: [string, string, string[], Format][] = [
    ['tcp', 'tcp://127.0.0.1:0', [], 'binary'],
    ['unix', 'unix', [], 'binary'],
    ['ws text', 'ws://127.0.0.1:0/stmp', ['--format', 'text'], 'text'],
  ]
  it.each(cases)('%s: the server has the push when push exits 0 (Close 1000 both ways)', async (_name, listen, extra, format) => {
    const pushes: { action: string; payload: string; format: Format }[] = []
    const closes: number[] = []
    const { url } = await startServer(listen === 'unix' ? `unix:${join(tempDir(), 'p.sock')}` : listen, {
      handler: { ...echoHandler, push: (p) => { pushes.push({ action: p.action, payload: p.payload.toString(), format: p.format }) } },
      onDisconnect: (_s, info) => closes.push(info.code),
    })
    const run = await runCli(['push', url, 'chat.message', '-d', '@-', '--json', ...extra], { stdin: '{"text": "hi"}' })
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({ action: 'chat.message', bytes: 14, closeCode: 1000 })
    expect(pushes).toEqual([{ action: 'chat.message', payload: '{"text": "hi"}', format }])
    await new Promise((r) => setTimeout(r, 100))
    expect(closes).toEqual([1000])
  })

  it('-v shows the push and the close both ways; bad data is exit 2 before connecting', async () => {
    const { url, connections } = await startServer('tcp://127.0.0.1:0')
    const run = await runCli(['push', url, 'ev', '[1]', '-v'])
    expect([run.code, run.stdout]).toEqual([0, ''])
    const lines = run.stderr.split('\n')
    expect(lines).toContain('> push id=1 ev (3 bytes)')
    expect(lines).toContain('> close 1000')
    expect(lines).toContain('< close 1000')
    const bad = await runCli(['push', url, 'ev', '[1,', '--json'])
    expect([bad.code, jsonErrorCode(bad.stdout)]).toEqual([2, 'BAD_PAYLOAD'])
    expect(connections()).toBe(1)
  })

  it('exit 3 when the server drops the connection instead of answering the close', async () => {
    const raw = await startRawServer((socket) => {
      socket.once('data', () => {
        socket.write(Buffer.from('0400c84f4b', 'hex'))
        socket.once('data', () => socket.destroy())
      })
    })
    const run = await runCli(['push', raw.url, 'ev', '1', '--json'])
    expect(run.code).toBe(3)
    expect(jsonErrorCode(run.stdout)).toMatch(/^CONNECTION_(CLOSED|RESET)$/)
  })
})
