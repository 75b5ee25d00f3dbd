import { readFileSync } from 'node:fs'
import { StmpError } from './errors.js'

/**
 * Flag values: durations (`250ms`, `10s`, `2m`, `1h`, bare numbers are seconds) and sizes (`512`, `64k`,
 * `16KiB`, `5MB`, `1m`) as flags take them. Bad values are usage errors (BAD_FLAG) naming the flag.
 *
 * One rule for durations in every command: a timeout, an interval or a delay
 * (`parseTimeout`: every `--timeout`, `--ping-timeout`, `--stats-interval`, `--reconnect-delay`,
 * `--reconnect-max-delay`) is at least 1ms; `0` is BAD_FLAG, never "no timeout" and never
 * "at once". Only a flag whose help says what 0 means takes it (`parseDuration`: `--keepalive 0`
 * is off, connect `--wait 0` stops after the last reply, serve `--drain-timeout 0` does not wait for handlers,
 * bench `--warmup 0` has no warm-up). No duration may pass the longest timer Node.js keeps
 * (2^31-1 ms, about 596h): a longer one would fire after 1 ms.
 */

const DURATION = /^(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)?$/i
const DURATION_UNIT: Record<string, number> = { us: 0.001, µs: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
/** setTimeout's largest delay; Node.js fires a longer one after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** Milliseconds, 0 or more: only for flags whose help says what 0 means. */
export function parseDuration(text: string, flag = 'duration'): number {
  const m = DURATION.exec(text.trim())
  if (!m) throw new StmpError('BAD_FLAG', `--${flag}: ${JSON.stringify(text)} is not a duration (e.g. 500ms, 10s, 2m)`)
  const ms = Number(m[1]) * DURATION_UNIT[(m[2] ?? 's').toLowerCase()]
  if (ms > MAX_TIMER_MS) throw new StmpError('BAD_FLAG', `--${flag}: ${JSON.stringify(text)} is longer than the longest timer (${Math.floor(MAX_TIMER_MS / 3_600_000)}h)`)
  return ms
}

/** Milliseconds, at least 1: a timeout, interval or delay, where 0 would mean nothing sensible. */
export function parseTimeout(text: string, flag = 'timeout'): number {
  const ms = parseDuration(text, flag)
  if (ms < 1) {
    const hint = flag.endsWith('timeout') ? ' (0 does not mean "no timeout")' : ''
    throw new StmpError('BAD_FLAG', `--${flag}: ${JSON.stringify(text)} is too short: it must be at least 1ms${hint}`)
  }
  return ms
}

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?$/i
const SIZE_UNIT: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }

/** Bytes; k/m/g are binary (1k = 1024). */
export function parseSize(text: string, flag = 'size'): number {
  const m = SIZE.exec(text.trim())
  if (!m) throw new StmpError('BAD_FLAG', `--${flag}: ${JSON.stringify(text)} is not a size (e.g. 512, 64k, 5MB)`)
  const unit = (m[2] ?? 'b').toLowerCase()[0]
  return Math.floor(Number(m[1]) * SIZE_UNIT[unit])
}

/** `Key: Value` header flags, repeatable; keys keep their case, lookups are case-insensitive. */
export function parseHeaders(values: string[] | undefined): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const line of values ?? []) {
    const colon = line.indexOf(':')
    if (colon <= 0 || line.includes('\n')) {
      throw new StmpError('BAD_FLAG', `-H: ${JSON.stringify(line)} is not "Key: Value"`)
    }
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim()
  }
  return headers
}

/** A file named by a flag (`--cert`, `--ca`, ...), read whole; missing or unreadable is BAD_FILE naming the flag. */
export function readFileFlag(path: string, flag: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new StmpError('BAD_FILE', `--${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
}
