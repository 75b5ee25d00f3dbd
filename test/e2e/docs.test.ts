import { readFileSync, readdirSync, statSync } from 'node:fs'
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

  it('what a user reads cites docs/protocol.md, never the wire notes (which users do not have)', () => {
    // The user pages (architecture.md describes the comments' convention of citing them).
    for (const { file, text } of docs.filter((d) => d.file !== 'docs/architecture.md')) expect(text, file).not.toMatch(/wire notes/i)
    // Strings in src: messages, close reasons, help. Comments may cite the wire notes.
    const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => {
      const path = join(dir, f)
      return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
    })
    const offenders: string[] = []
    for (const path of files(join(ROOT, 'src'))) {
      readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, '')
        if (/^\s*(\*|\/\*)/.test(code)) return
        if (/(['"`])[^'"`]*wire notes[^'"`]*\1/i.test(code)) offenders.push(`${path}:${i + 1}`)
      })
    }
    expect(offenders).toEqual([])
  })
})
