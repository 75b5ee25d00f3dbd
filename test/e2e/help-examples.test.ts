import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'
import { EXAMPLE_TIMEOUT as TIMEOUT, ExampleShell, freePort } from '../helpers/examples.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * Every `--help` example (the manifest's, as `stmpcat CMD --help` prints them) runs from a
 * fresh clone (issue 18, point 14): inputs come from examples/, the fixed ports become free
 * ones served by one echo server, and long runs are shortened (bench -d 1s, --warmup 200ms,
 * connect --wait 1s). A `tail -f` example runs until it has answered its input, then is
 * stopped; a bench with an SLO gate may exit 8 on a busy machine (it ran; the gate judged).
 */

interface Manifest { commands: Record<string, { examples?: Array<string | { command: string }> }> }

const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8')) as Manifest
const PORTS = ['5000', '5001', '5002', '8080']

const all = Object.entries(manifest.commands).flatMap(([id, c]) => (c.examples ?? []).map((e) => ({
  id, text: (typeof e === 'string' ? e : e.command).replace(/<%= config\.bin %>/g, 'stmpcat').replace(/<%= command\.id %>/g, id),
})))

describe('--help examples run as written (issue 18, point 14)', () => {
  const dir = tempDir('stmp-help-')
  const ports = new Map<string, number>()
  let shell: ExampleShell

  const rewrite = (text: string): string => text
    .replace(/stmpcat serve$/, 'stmpcat serve tcp://127.0.0.1:5000')
    .replace(/localhost:/g, '127.0.0.1:')
    .replace(/:(\d{4})\b/g, (m, p: string) => (ports.has(p) ? `:${ports.get(p)}` : m))
    .replace(/unix:\/tmp\/stmp\.sock/g, `unix:${join(dir, 'stmp.sock')}`)
    .replace(/(stmpcat bench.*?) -d \S+/, '$1 -d 1s')
    .replace(/--warmup \S+/, '--warmup 200ms')
    .replace(/--wait \S+/, '--wait 1s')

  beforeAll(async () => {
    for (const p of PORTS) ports.set(p, await freePort())
    shell = new ExampleShell(dir)
  }, TIMEOUT)

  afterAll(async () => {
    await shell.stopAll()
  })

  it('every command has examples, and every file they read is shipped', () => {
    expect(new Set(all.map((e) => e.id))).toEqual(new Set(Object.keys(manifest.commands)))
    for (const e of all) {
      for (const m of e.text.matchAll(/(?:@|\s)(examples\/[\w.-]+)/g)) expect(readFileSync(join(ROOT, m[1])).length, m[1]).toBeGreaterThan(0)
    }
  })

  it('each serve example starts and listens', async () => {
    for (const e of all.filter((x) => x.id === 'serve')) {
      const { urls, child } = await shell.serve(rewrite(e.text))
      expect(urls.length, e.text).toBeGreaterThan(0)
      if (!e.text.includes('"wait"')) {
        const token = / --token (\S+)/.exec(e.text)?.[1]
        const r = await shell.run(`stmpcat fetch ${urls[0]} test.echo '{"n":1}'${token ? ` --token ${token}` : ''}`)
        expect(r, `${e.text}\n${r.stderr}`).toMatchObject({ code: 0 })
      }
      await shell.stop(child)
    }
  }, 8 * TIMEOUT)

  it('the other examples exit 0 against an echo server on their ports', async () => {
    const p = (n: string) => ports.get(n) as number
    const { child } = await shell.serve(`stmpcat serve tcp://127.0.0.1:${p('5000')} ws://127.0.0.1:${p('5002')}/stmp ws://127.0.0.1:${p('8080')}/stmp`)
    const failures: string[] = []
    for (const e of all.filter((x) => x.id !== 'serve')) {
      const script = rewrite(e.text)
      if (script.startsWith('tail -f')) {
        // Runs until stopped: it must have answered both input lines by then.
        const run = await shell.start(script, (out) => out.split('\n').filter((l) => l.includes('"status":200')).length >= 2)
        await shell.stop(run.child)
        continue
      }
      const r = await shell.run(script)
      const allowed = /--max-p99/.test(script) ? [0, 8] : [0]
      if (!allowed.includes(r.code as number)) failures.push(`${e.text}: exit ${r.code}\n${r.stdout.slice(0, 500)}${r.stderr.slice(0, 1000)}`)
    }
    await shell.stop(child)
    expect(failures).toEqual([])
  }, 30 * TIMEOUT)
})
