import type { Interfaces } from '@oclif/core'
import { StmpError } from '../errors.js'

/**
 * A command name that is not one of stmpcat's (`stmpcat fetc ...`): a USAGE error (exit 2;
 * with --json the error envelope on stdout, like every other usage error) that names the
 * closest command. Used by the command_not_found hook (src/hooks), which oclif imports only
 * when no command matched, so a normal run never loads this.
 */
export function reportUnknownCommand(config: Interfaces.Config, id: string, json: boolean): void {
  // With topicSeparator ' ' oclif joins every word before the first flag into the id
  // (`fetc :5000 x` is "fetc::5000:x"); stmpcat has no topics, so the command is the first.
  const error = unknownCommandError(config, id.split(':')[0])
  if (json) process.stdout.write(`${JSON.stringify({ error: error.toJSON() })}\n`)
  else process.stderr.write(`${config.bin}: ${error.code}: ${error.message}\n`)
  process.exitCode = error.exitCode
}

/** The USAGE error for `typed`, which is no command: it names the closest one and lists them all. */
export function unknownCommandError(config: Interfaces.Config, typed: string): StmpError {
  const bin = config.bin
  const ids = [...new Set([...config.commandIDs, 'help'])].filter((c) => !config.findCommand(c)?.hidden).sort()
  const suggestion = closest(typed, ids)
  const hint = suggestion === undefined ? '' : ` Did you mean "${bin} ${suggestion}"?`
  return new StmpError('USAGE', `"${typed}" is not a ${bin} command.${hint} Commands: ${ids.join(', ')} (${bin} help COMMAND for one).`)
}

/**
 * The id nearest to `typed` when it looks like a typo of it: at most a third of its letters
 * wrong (`fecth`, `conect`, `serv`), or the start of exactly one id (`de`).
 */
export function closest(typed: string, ids: readonly string[]): string | undefined {
  const word = typed.toLowerCase()
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const id of ids) {
    const d = editDistance(word, id)
    if (d < bestDistance) [best, bestDistance] = [id, d]
  }
  if (best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3))) return best
  const starts = ids.filter((id) => word !== '' && id.startsWith(word))
  return starts.length === 1 ? starts[0] : undefined
}

/**
 * Edit distance where inserting, deleting or changing one letter, or swapping two neighbours
 * (`fecth`), costs 1 (optimal string alignment).
 */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      rows[i][j] = Math.min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) rows[i][j] = Math.min(rows[i][j], rows[i - 2][j - 2] + 1)
    }
  }
  return rows[a.length][b.length]
}
