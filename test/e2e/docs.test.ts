import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'

/** Docs that disagree with the code (issue 18, point 24). */
const docs = [...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`), 'README.md', 'examples/README.md']
  .filter((f) => f.endsWith('.md'))
  .map((file) => ({ file, text: readFileSync(join(ROOT, file), 'utf8') }))

const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
  commands: Record<string, { flags: Record<string, { char?: string }> }>
}

describe('docs name only what the repository has', () => {
  it('no doc points at shared/ files, which the repository does not ship', () => {
    for (const { file, text } of docs) expect(text, file).not.toMatch(/`shared\//)
  })

  it('every flag docs/exit-codes.md names for a command exists on that command', () => {
    const text = readFileSync(join(ROOT, 'docs/exit-codes.md'), 'utf8')
    const bullets = text.split('\n- ').slice(1)
    expect(bullets.length).toBeGreaterThanOrEqual(4)
    let checked = 0
    for (const bullet of bullets) {
      const command = /^`(\w+)`/.exec(bullet)?.[1]
      if (command === undefined || !(command in manifest.commands)) continue
      for (const m of bullet.matchAll(/`(--[\w-]+)/g)) {
        expect(Object.keys(manifest.commands[command].flags), `${command} ${m[1]}`).toContain(m[1].slice(2))
        checked++
      }
    }
    // The bench bullet names its gates.
    expect(checked).toBeGreaterThanOrEqual(3)
  })

  it('the docs speak to users: no "the issue text"', () => {
    for (const { file, text } of docs) expect(text, file).not.toMatch(/the issue text/i)
  })
})
