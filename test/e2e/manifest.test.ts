import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'

/**
 * oclif answers `--help` from oclif.manifest.json (scripts/manifest.mjs writes it at build): it
 * must list the flags and arguments of the commands as built, or help shows a stale CLI.
 */
describe('oclif.manifest.json', () => {
  it('has every built command with exactly its flags and arguments', async () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8')) as { commands: Record<string, { flags: object; args: object }> }
    const names = ['bench', 'connect', 'decode', 'dialects', 'fetch', 'help', 'push', 'serve']
    expect(Object.keys(manifest.commands).sort()).toEqual(names)
    for (const name of names) {
      const command = (await import(join(ROOT, 'dist/commands', `${name}.js`))) as { default: { flags: object; args: object } }
      // --json comes from the base command's enableJsonFlag.
      expect(Object.keys(manifest.commands[name].flags).filter((f) => f !== 'json').sort()).toEqual(Object.keys(command.default.flags).filter((f) => f !== 'json').sort())
      expect(Object.keys(manifest.commands[name].args).sort()).toEqual(Object.keys(command.default.args ?? {}).sort())
    }
  })
})
