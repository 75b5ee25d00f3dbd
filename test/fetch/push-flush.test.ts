import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli, spawnCli, startServe } from '../helpers/cli.js'
import { tempDir } from './helpers.js'

/**
 * Issue 18 point 1, as reported: `serve --routes examples/routes.yaml`, a listener
 * (`connect --wait`), three pushes of a 400 KB JSON string to `alert.raise` (broadcast to all).
 * The push's Close used to go out before the push's fragments: every push exited 0 and the
 * listener got 1 of 3 (or none).
 */
describe('a large push reaches the server before push exits 0', { timeout: 180_000 }, () => {
  it.each([
    ['tcp', 'tcp://127.0.0.1:0'],
    ['ws', 'ws://127.0.0.1:0/stmp'],
  ])('%s: three 400 KB pushes, the listener gets 3 of 3, whole', async (_name, listen) => {
    const text = randomBytes(300_000).toString('base64')
    const file = join(tempDir(), 'big.json')
    writeFileSync(file, JSON.stringify(text))
    const serve = await startServe([listen, '--routes', 'examples/routes.yaml'])
    const listener = spawnCli(['connect', serve.urls[0], '--wait', '120s'])
    try {
      const lines: { kind?: string; action?: string; payload?: unknown }[] = []
      let rest = ''
      let onLine = () => undefined as void
      listener.stdout.setEncoding('utf8').on('data', (d: string) => {
        const parts = (rest + d).split('\n')
        rest = parts.pop() as string
        for (const p of parts) lines.push(JSON.parse(p))
        onLine()
      })
      const until = (n: number) => new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`listener has ${lines.length} lines, waited for ${n}`)), 60_000)
        onLine = () => {
          if (lines.length >= n) {
            clearTimeout(timer)
            resolve()
          }
        }
        onLine()
      })
      listener.stdin.end('{"action":"health.a"}\n')
      // The listener's own request answered: it is connected and will get the broadcasts.
      await until(1)
      for (let i = 0; i < 3; i++) {
        const run = await runCli(['push', serve.urls[0], 'alert.raise', '-d', `@${file}`, '--json'])
        expect([run.code, run.stderr]).toEqual([0, ''])
        expect(JSON.parse(run.stdout)).toMatchObject({ action: 'alert.raise', closeCode: 1000 })
      }
      await until(4)
      const pushes = lines.filter((l) => l.kind === 'push')
      expect(pushes.map((p) => p.action)).toEqual(['alert', 'alert', 'alert'])
      for (const p of pushes) expect(p.payload === text).toBe(true)
    } finally {
      listener.kill('SIGKILL')
      await serve.stop()
    }
  })
})
