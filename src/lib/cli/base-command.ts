import { Command, Errors } from '@oclif/core'
import { ExitCode, StmpError, isStmpError } from '../errors.js'
import { chalkFor } from '../render/colors.js'
import { prettyJson } from '../render/json-text.js'

/**
 * The base of every stmpcat command: the one place that turns errors into a message on stderr
 * (or `{"error": {...}}` on stdout with --json) and an exit code from the table in errors.ts.
 * Commands never call process.exit; bin/run.js exits once stdout is flushed.
 */
export abstract class StmpCommand extends Command {
  static override enableJsonFlag = true

  /**
   * Ends the command with `code` and no error message, for a command that finished and has
   * already reported what went wrong in its own output: `decode` prints every protocol error as
   * a row or an NDJSON line, so throwing would print one more error (and, with --json, a line
   * that is not a frame). Everything else throws a StmpError and lets `catch` report it.
   */
  protected setExitCode(code: ExitCode): void {
    process.exitCode = code
  }

  /**
   * What a command returns from run() is printed with --json: one compact line + `\n` in a pipe
   * (so it can be read as NDJSON), pretty and coloured (NO_COLOR respected) on a terminal.
   */
  protected override logJson(json: unknown): void {
    const text = JSON.stringify(json) ?? 'null'
    process.stdout.write(process.stdout.isTTY ? `${prettyJson(text, chalkFor(process.stdout))}\n` : `${text}\n`)
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<void> {
    const error = toStmpError(err)
    if (this.jsonEnabled()) {
      process.stdout.write(`${JSON.stringify({ error: error.toJSON() })}\n`)
    } else {
      process.stderr.write(`stmpcat: ${error.code}: ${error.message}\n`)
    }
    // The stack goes to stderr, with --json too; a worker's error comes with the worker's stack as its cause.
    if (error.exitCode === ExitCode.INTERNAL && process.env.STMPCAT_DEBUG) process.stderr.write(`${debugStack(err)}\n`)
    process.exitCode = error.exitCode
  }
}

/** The stack of `err` and of each error in its `cause` chain. */
export function debugStack(err: unknown): string {
  const parts: string[] = []
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    parts.push(e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e))
    e = e instanceof Error ? e.cause : undefined
  }
  return parts.join('\nCaused by: ')
}

/** Maps anything thrown to a StmpError: oclif's parse errors are usage errors (exit 2). */
export function toStmpError(err: unknown): StmpError {
  if (isStmpError(err)) return err
  if (err instanceof Errors.ExitError) {
    return new StmpError('EXIT', `exit ${err.oclif.exit}`, { exitCode: (err.oclif.exit ?? 1) as ExitCode })
  }
  if (err instanceof Errors.CLIError) {
    // Flag and argument parse failures (unknown flag, missing argument, bad option value).
    // oclif's note that multiple-value flags must come after the arguments is wrong here: every
    // such flag takes one value per occurrence (multipleNonGreedy), so curl-style order works.
    const message = err.message.replace(/\n\s*See more help with --help$/, '').replace(/\n\nNote: [^\n]* multiple values\.[^\n]*\nAlternatively, [^\n]*/, '').trim()
    return new StmpError('USAGE', message, { exitCode: ExitCode.USAGE })
  }
  const message = err instanceof Error ? err.message : String(err)
  return new StmpError('INTERNAL', `unexpected error: ${message} (set STMPCAT_DEBUG=1 for the stack)`, { cause: err })
}
