import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { CloseInfo, Session, StmpServer } from '../../src/lib/session/index.js'
import { BIN } from '../helpers/cli.js'
import { type DriverName, type PtyDriver, available, startPty } from '../helpers/pty.js'
import { validateTarget } from '../../src/lib/connect/repl.js'
import { startServer } from './helpers.js'
import { tempDir } from '../helpers/tmp.js'

// tmux when installed, `script` (util-linux) otherwise; on a machine with both, both run.
const drivers = (['tmux', 'script'] as DriverName[]).filter(available)

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f()
})

async function until(pty: PtyDriver, what: RegExp, ms = 15_000): Promise<string> {
  const deadline = Date.now() + ms
  let screen = ''
  while (Date.now() < deadline) {
    screen = await pty.screen()
    if (what.test(screen)) return screen
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`${pty.name}: the screen never showed ${what}:\n${screen}`)
}

/** The screen's last line of output, without tmux's `[exit N]` line after the command. */
function lastLine(screen: string): string {
  const lines = screen.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '')
  if (/^\[exit \d+\]$/.test(lines[lines.length - 1] ?? '')) lines.pop()
  return lines[lines.length - 1] ?? ''
}

describe('the URL question (issue 18, point 23)', () => {
  it('accepts every address form the CLI accepts, and refuses others with the reason', () => {
    for (const ok of [':47011', 'localhost:5000', '127.0.0.1:1', 'tcp://127.0.0.1:5000', 'tls://h:1', 'unix:/tmp/s.sock', 'ws://h:1/stmp', 'wss://h/stmp']) {
      expect(validateTarget(ok), ok).toBe(true)
    }
    for (const bad of ['bad://x', '', 'tcp://h']) expect(typeof validateTarget(bad), bad).toBe('string')
  })
})

describe('connect on a terminal', { timeout: 90_000 }, () => {
  it('has a pseudo-terminal driver (tmux, or util-linux script)', () => {
    // Fails, never skips: the terminal tests below need one of them.
    expect(drivers.length, 'neither tmux nor script (util-linux) is installed: the terminal tests cannot run').toBeGreaterThan(0)
  })

  describe.each(drivers)('through %s', (driver) => {
    it('sends a request, shows a push above a half-typed line, answers a server request, closes with a code', async () => {
      let serverSession: Session | undefined
      let closed: CloseInfo | undefined
      let answer: number | undefined
      const { server, url } = await startServer({
        onConnection: (s) => { serverSession = s },
        onDisconnect: (_s, info) => { closed = info },
      })
      cleanup.push(() => server.close(100))
      const history = join(tempDir('stmpcat-hist-'), 'history')
      const pty = startPty(driver, [process.execPath, BIN, 'connect', url], { NO_COLOR: '1', STMPCAT_HISTORY: history })
      cleanup.push(() => pty.stop())

      await until(pty, /^stmp>\s*$/m)
      await pty.type('echo {"a": [1, 2]}')
      await pty.key('Enter')
      const afterRequest = await until(pty, /← 200 OK echo/)
      expect(afterRequest).toMatch(/"a": \[\s*1,\s*2\s*\]/)

      // A push while a line is half typed: printed above it, the typed text still on the prompt.
      await pty.type('half typ')
      await until(pty, /stmp> half typ$/m)
      ;(server as StmpServer).broadcast('all', 'news', Buffer.from('{"headline":"hi"}'))
      const afterPush = await until(pty, /⇠ push news[\s\S]*"headline": "hi"[\s\S]*stmp> half typ/)
      const lines = afterPush.split('\n').filter((l) => l !== '')
      expect(lines[lines.length - 1]).toBe('stmp> half typ')
      await pty.key('C-u')

      // A request from the server, answered from the prompt.
      void serverSession?.request('ask', Buffer.from('"q"')).then((r) => { answer = r.status })
      const asked = await until(pty, /⇠ request #\d+ ask/)
      const id = (/⇠ request #(\d+) ask/.exec(asked) as RegExpExecArray)[1]
      await pty.type(`/reply ${id} 201 {"ok":true}`)
      await pty.key('Enter')
      await until(pty, /replied 201/)
      await expect.poll(() => answer).toBe(201)

      await pty.type('/close 4000 bye')
      await pty.key('Enter')
      expect(await pty.exited()).toBe(0)
      await expect.poll(() => closed?.code).toBe(4000)
      expect(readFileSync(history, 'utf8')).toContain('echo {"a": [1, 2]}\n')
    })
    it('leaves no prompt behind on exit: /quit, Ctrl-D and a server that closes (issue 18, point 23)', async () => {
      let serverSession: Session | undefined
      const { server, url } = await startServer({ onConnection: (s) => { serverSession = s } })
      cleanup.push(() => server.close(100))
      const env = { NO_COLOR: '1', STMPCAT_HISTORY: join(tempDir('stmpcat-hist-'), 'history') }
      const ways: Array<[string, (pty: PtyDriver) => Promise<void>, RegExp]> = [
        ['/quit', async (pty) => { await pty.type('/quit'); await pty.key('Enter') }, /^closed 1000$/],
        ['Ctrl-D', async (pty) => { await pty.key('C-d') }, /^closed 1000$/],
        ['server Close', async () => { await serverSession?.close(1000, 'bye') }, /^connection closed by the server: 1000 bye$/],
      ]
      for (const [name, leave, last] of ways) {
        const pty = startPty(driver, [process.execPath, BIN, 'connect', url], env)
        cleanup.push(() => pty.stop())
        await until(pty, /^stmp>\s*$/m)
        await leave(pty)
        expect(await pty.exited(), name).toBe(0)
        // Before the fix a last `stmp> ` came after the closing line (the shell prompt landed on it).
        await expect.poll(async () => lastLine(await pty.screen()), { timeout: 10_000 }).toMatch(last)
        await pty.stop()
      }
    })

    it('with stdout redirected: questions, prompt and escapes on the terminal; only results in the file; `:PORT` is an answer (issue 18, point 23)', async () => {
      const { server, url } = await startServer()
      cleanup.push(() => server.close(100))
      const dir = tempDir('stmpcat-redirect-')
      const out = join(dir, 'out.txt')
      const command = `exec ${[process.execPath, BIN, 'connect'].map((a) => `'${a}'`).join(' ')} > '${out}'`
      const pty = startPty(driver, ['sh', '-c', command], { NO_COLOR: '1', STMPCAT_HISTORY: join(dir, 'history') })
      cleanup.push(() => pty.stop())

      // The question suggests serve's default address and takes the short form.
      await until(pty, /\? URL .*\(:5000\)/)
      await pty.type(`:${new URL(url).port}`)
      await pty.key('Enter')
      await until(pty, /\? Content type/)
      await pty.key('Enter')
      await until(pty, /connected to [\s\S]*^stmp>/m)
      await pty.type('echo {"a": 1}')
      await pty.key('Enter')
      await expect.poll(() => (existsSync(out) ? readFileSync(out, 'utf8') : ''), { timeout: 15_000 }).toMatch(/← 200 OK echo #1[\s\S]*"a": 1/)
      await pty.key('C-d')
      expect(await pty.exited()).toBe(0)
      const file = readFileSync(out, 'utf8')
      expect(file).not.toContain('\x1b')
      expect(file).not.toContain('stmp>')
      expect(file).not.toContain('URL')
      expect(file).not.toContain('connected to')
    })

    it('asks for the URL and content type, completes method names with Tab, and /call walks a method\'s fields', async () => {
      const { server, url } = await startServer()
      cleanup.push(() => server.close(100))
      const dir = tempDir('stmpcat-proto-')
      writeFileSync(join(dir, 'shop.proto'), [
        'syntax = "proto3";',
        'package shop.v1;',
        'enum Kind { KIND_A = 0; KIND_B = 1; }',
        'message Order { string sku = 1; uint32 qty = 2; Kind kind = 3; bool gift = 4; }',
        'service Shop { rpc Place(Order) returns (Order); }',
      ].join('\n'))
      const pty = startPty(driver, [process.execPath, BIN, 'connect', '--proto', join(dir, 'shop.proto'), '-t', 'protobuf'], { NO_COLOR: '1', STMPCAT_HISTORY: join(dir, 'history') })
      cleanup.push(() => pty.stop())

      await until(pty, /\? URL/)
      await pty.type(url)
      await pty.key('Enter')
      await until(pty, /\? Content type/)
      await pty.key('Enter') // the default: the -t given
      await until(pty, /connected to .*\(application\/protobuf\)[\s\S]*^stmp>/m)

      await pty.type('shop.v1.Sh')
      await pty.key('Tab')
      await until(pty, /^stmp> shop\.v1\.Shop\.Place$/m)
      await pty.key('C-u')

      await pty.type('/call Shop.Place')
      await pty.key('Enter')
      await until(pty, /\? sku \(string\)/)
      await pty.type('A-1')
      await pty.key('Enter')
      await until(pty, /\? qty \(uint32\)/)
      await pty.type('3')
      await pty.key('Enter')
      await until(pty, /KIND_B/)
      await pty.key('Down')
      await pty.key('Enter')
      await until(pty, /\? gift \(bool\)/)
      await pty.type('y')
      await pty.key('Enter')
      const screen = await until(pty, /← 200 OK shop\.v1\.Shop\.Place[\s\S]*"gift": true[\s\S]*^stmp>/m)
      expect(screen).toMatch(/"sku": "A-1",\s*"qty": 3,\s*"kind": "KIND_B"/)

      await pty.key('C-d')
      expect(await pty.exited()).toBe(0)
    })
  })
})
