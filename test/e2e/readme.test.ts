import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'
import { EXAMPLE_TIMEOUT as TIMEOUT, ExampleShell, freePort } from '../helpers/examples.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * Every example in the README's command sections runs as written from a fresh clone (issue 18,
 * point 14): the code blocks are read from README.md, `npx stmpcat` becomes the built CLI
 * (a `stmpcat` on PATH, as `npm link` gives), and the fixed ports become free ones. Servers
 * are started, checked and stopped; every other command must exit 0 and print what its
 * `# prints ...` comment says. bench runs for 1 s instead of its -d.
 */

const SECTIONS = ['serve', 'fetch and push', 'connect', 'bench', 'decode']

interface Example { section: string; text: string; terminals?: boolean }

/** The ```sh blocks of a README section, one example per command (continuations joined). */
function examples(readme: string): Example[] {
  const out: Example[] = []
  for (const section of SECTIONS) {
    const start = readme.indexOf(`\n### ${section}\n`)
    expect(start, `README section ${section}`).toBeGreaterThan(0)
    // Up to the next heading of any level.
    const end = readme.slice(start + 5).search(/\n#{2,3} /)
    const body = readme.slice(start, end < 0 ? undefined : start + 5 + end)
    for (const block of body.matchAll(/```sh\n([\s\S]*?)```/g)) {
      const commands = block[1].replace(/\\\n\s*/g, '').split('\n').filter((l) => l.trim() !== '')
      // A block written for two terminals is one example: a server, then its client.
      if (commands.some((c) => c.startsWith('# terminal'))) out.push({ section, text: commands.join('\n'), terminals: true })
      else for (const c of commands) out.push({ section, text: c })
    }
  }
  return out
}

describe('README examples run as written (issue 18, point 14)', () => {
  const dir = tempDir('stmp-readme-')
  const ports = new Map<string, number>()
  let sock = ''

  /** The README text of an example, with this test's ports, socket and bench duration. */
  const rewrite = (text: string): string => text
    .replace(/npx stmpcat/g, 'stmpcat')
    .replace(/stmpcat serve(?=\s*(#|$|\n))/gm, 'stmpcat serve tcp://127.0.0.1:5000')
    .replace(/:(500\d)\b/g, (_, p: string) => `:${ports.get(p) ?? p}`)
    .replace(/unix:\/tmp\/stmp\.sock/g, `unix:${sock}`)
    .replace(/(stmpcat bench[^|>\n]*?) -d \S+/g, '$1')
    .replace(/stmpcat bench/g, 'stmpcat bench -d 1s')

  const all = examples(readFileSync(join(ROOT, 'README.md'), 'utf8'))

  let shell: ExampleShell
  beforeAll(async () => {
    for (const p of ['5000', '5001', '5002', '5003']) ports.set(p, await freePort())
    sock = join(dir, 'stmp.sock')
    shell = new ExampleShell(dir)
  }, TIMEOUT)

  afterAll(async () => {
    await shell.stopAll()
  })

  it('the set-up section says how to get a bare stmpcat, and its alias line works from the root (point 15)', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const setup = readme.slice(readme.indexOf('## Set-up'), readme.indexOf('## Commands'))
    // The two set-up commands are unchanged.
    expect(setup).toContain('npm ci && npx stmpcat bench')
    expect(setup).toContain('npm ci && npm test')
    expect(setup).toMatch(/^npm link\b/m)
    const alias = /^alias stmpcat=.*$/m.exec(setup)?.[0] as string
    expect(alias).toBeDefined()
    const r = await shell.run(`cd ${JSON.stringify(ROOT)}\nshopt -s expand_aliases\n${alias}\nstmpcat fetch --help > /dev/null && type stmpcat`)
    expect(r, r.stderr).toMatchObject({ code: 0 })
    expect(r.stdout).toContain('aliased to')
  })

  it('finds the examples, and every input file they name is shipped in examples/', () => {
    expect(all.length).toBeGreaterThanOrEqual(20)
    const named = all.flatMap((e) => [...e.text.matchAll(/(?:@|\s)(examples\/[\w.-]+)/g)].map((m) => m[1]))
    expect(named.length).toBeGreaterThanOrEqual(7)
    for (const file of named) expect(existsSync(join(ROOT, file)), file).toBe(true)
    // No example reads an input from outside examples/ (the issue's body.json, frames.bin, ...).
    for (const e of all) expect(e.text).not.toMatch(/(?<![\w/])(body\.json|frames\.bin|client\.hex|capture\.pcapng|big\.pcap|grpc-like\.pcap)/)
  })

  it('each serve example starts, listens where it says and answers a request', async () => {
    const serves = all.filter((e) => e.section === 'serve' && !e.terminals)
    for (const e of serves) expect(e.text).toMatch(/^npx stmpcat serve/)
    expect(serves.length).toBeGreaterThanOrEqual(4)
    for (const e of serves) {
      const { urls, child } = await shell.serve(rewrite(e.text))
      const token = / --token (\S+)/.exec(e.text)?.[1]
      const r = await shell.run(`stmpcat fetch ${urls[0]} test.echo '{"n":1}'${token ? ` --token ${token}` : ''}`)
      expect(r, `${e.text}\n${r.stderr}`).toMatchObject({ code: 0 })
      expect(JSON.parse(r.stdout)).toEqual({ n: 1 })
      await shell.stop(child)
    }
  }, 6 * TIMEOUT)

  it('the two-terminal stdin push example: the client gets the push', async () => {
    const block = all.find((e) => e.terminals) as Example
    expect(block).toBeDefined()
    const [server, clientLine] = block.text.split('\n').filter((l) => !l.startsWith('#'))
    const { child } = await shell.serve(rewrite(server))
    const r = await shell.run(rewrite(clientLine))
    await shell.stop(child)
    expect(r, r.stderr).toMatchObject({ code: 0 })
    const promised = /# prints (.*)$/.exec(clientLine)?.[1].trim() as string
    expect(r.stdout.trim()).toBe(promised)
  }, 2 * TIMEOUT)

  it('the fetch, push, connect, bench and decode examples exit 0 and print what they say, against the serve example', async () => {
    const backdrop = all.find((e) => e.section === 'serve' && /ws:\/\/:5002\/stmp/.test(e.text)) as Example
    const { child } = await shell.serve(rewrite(backdrop.text))
    const failures: string[] = []
    for (const e of all.filter((x) => x.section !== 'serve')) {
      const r = await shell.run(rewrite(e.text))
      if (r.code !== 0) failures.push(`${e.text}: exit ${r.code}\n${r.stdout}${r.stderr}`)
      const promised = /# prints (\S.*)$/.exec(e.text)?.[1].trim()
      if (promised !== undefined && r.stdout.trim() !== promised) failures.push(`${e.text}: printed ${r.stdout.trim()}, not ${promised}`)
    }
    await shell.stop(child)
    expect(failures).toEqual([])
  }, 20 * TIMEOUT)
})
