/**
 * Capture times (bigint nanoseconds since the epoch) as ISO 8601 text, for any time a capture can
 * hold: a pcapng interface with `if_tsresol` in seconds or a large `if_tsoffset` gives times far
 * outside what a JS Date can show (±8.64e15 ms), and those are written with an expanded year
 * (`+1000000-01-01T00:00:00`, as Date#toISOString writes years past 9999) instead of failing.
 */

const NS_PER_SECOND = 1_000_000_000n
/** The largest |seconds| a Date holds. */
const DATE_LIMIT_SECONDS = 8_640_000_000_000n

/** Floor division and its remainder (0 <= r < d) for bigints of either sign. */
function floorDiv(n: bigint, d: bigint): [bigint, bigint] {
  const q = n / d
  const r = n - q * d
  return r < 0n ? [q - 1n, r + d] : [q, r]
}

/** Whole seconds and microseconds (truncated towards the earlier time) of a time in ns. */
export function splitNs(ns: bigint): { second: bigint; micros: number } {
  const [second, rest] = floorDiv(ns, NS_PER_SECOND)
  return { second, micros: Number(rest / 1000n) }
}

const pad = (n: bigint, width: number) => n.toString().padStart(width, '0')

/** `YYYY-MM-DDTHH:MM:SS` (UTC) of a second since the epoch, any size. */
export function isoSecond(second: bigint): string {
  if (second >= -DATE_LIMIT_SECONDS && second <= DATE_LIMIT_SECONDS) return new Date(Number(second) * 1000).toISOString().slice(0, -5)
  return civilIsoSecond(second)
}

/** isoSecond by integer arithmetic alone (exported for the tests, which check it against Date). */
export function civilIsoSecond(second: bigint): string {
  // Days to civil date, proleptic Gregorian (H. Hinnant, "chrono-compatible low-level date algorithms").
  const [days, secondOfDay] = floorDiv(second, 86_400n)
  const z = days + 719_468n
  const [era, doe] = floorDiv(z, 146_097n)
  const yoe = (doe - doe / 1460n + doe / 36_524n - doe / 146_096n) / 365n
  const doy = doe - (365n * yoe + yoe / 4n - yoe / 100n)
  const mp = (5n * doy + 2n) / 153n
  const day = doy - (153n * mp + 2n) / 5n + 1n
  const month = mp < 10n ? mp + 3n : mp - 9n
  const year = yoe + era * 400n + (month <= 2n ? 1n : 0n)
  const yearText = year >= 0n && year <= 9999n ? pad(year, 4) : `${year < 0n ? '-' : '+'}${pad(year < 0n ? -year : year, 6)}`
  const [hour, rest] = floorDiv(secondOfDay, 3600n)
  return `${yearText}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(rest / 60n, 2)}:${pad(rest % 60n, 2)}`
}
