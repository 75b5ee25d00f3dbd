import { Chalk, supportsColor, type ChalkInstance } from 'chalk'

/**
 * Colour for human output. chalk alone ignores NO_COLOR, so the rule is here, once:
 * FORCE_COLOR wins (`0`/`false` off, empty/`true` basic, `1`-`3` that level); else NO_COLOR
 * (any non-empty value) turns colour off; else only a TTY gets colour, at the level the
 * terminal supports. https://no-color.org, https://force-color.org
 */
export function colorLevel(isTTY: boolean, env: NodeJS.ProcessEnv = process.env): 0 | 1 | 2 | 3 {
  const force = env.FORCE_COLOR
  if (force !== undefined) {
    if (force === '' || force === 'true') return 1
    if (force === 'false') return 0
    const n = Number.parseInt(force, 10)
    if (Number.isNaN(n)) return 1
    return Math.max(0, Math.min(n, 3)) as 0 | 1 | 2 | 3
  }
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0
  if (!isTTY) return 0
  return supportsColor === false ? 0 : Math.max(1, supportsColor.level) as 1 | 2 | 3
}

/** A chalk instance for this stream (stdout by default). */
export function chalkFor(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): ChalkInstance {
  return new Chalk({ level: colorLevel(stream.isTTY === true, env) })
}

/** A response or close status coloured by class: 2xx green, 4xx yellow, 5xx red, others plain. */
export function colorStatus(chalk: ChalkInstance, status: number): string {
  if (status >= 200 && status < 300) return chalk.green(String(status))
  if (status >= 400 && status < 500) return chalk.yellow(String(status))
  if (status >= 500) return chalk.red(String(status))
  return String(status)
}
