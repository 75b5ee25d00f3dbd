import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * End-to-end tests spawn the built CLI (`bin/run.js` loads `dist/`). Build once before the run,
 * and only when `dist/` is missing or older than a source file, so focused runs stay fast.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

function newest(dir: string, ext: string): number {
  if (!existsSync(dir)) return 0
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(ext)) continue
    latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs)
  }
  return latest
}

export default function setup(): void {
  const built = newest(join(ROOT, 'dist'), '.js')
  if (built > 0 && built >= newest(join(ROOT, 'src'), '.ts')) return
  try {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    // tsc emits even with type errors; `npm test` reports those through `tsc --noEmit`.
    const e = err as { stdout?: Buffer }
    process.stderr.write(`global-setup: npm run build reported errors:\n${e.stdout?.toString() ?? String(err)}\n`)
  }
}
