import { StmpError } from '../errors.js'

/**
 * Durations (`250ms`, `10s`, `2m`, `1h`, bare numbers are seconds) and sizes (`512`, `64k`,
 * `16KiB`, `5MB`, `1m`) as flags take them. Bad values are usage errors naming the flag.
 */

const DURATION = /^(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)?$/i
const DURATION_UNIT: Record<string, number> = { us: 0.001, µs: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Milliseconds. */
export function parseDuration(text: string, flag = 'duration'): number {
  const m = DURATION.exec(text.trim())
  if (!m) throw new StmpError('BAD_FLAG', `--${flag}: ${JSON.stringify(text)} is not a duration (e.g. 500ms, 10s, 2m)`)
  return Number(m[1]) * DURATION_UNIT[(m[2] ?? 's').toLowerCase()]
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
