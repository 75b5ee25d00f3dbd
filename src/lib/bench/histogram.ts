import hdr, { type Histogram } from 'hdr-histogram-js'

/**
 * Latencies are recorded in microseconds from 1 µs to 60 s with 3 significant digits
 * (autocannon records whole milliseconds, so every loopback percentile prints `0 ms`).
 * The JS implementation is used (no WebAssembly): it needs no async init in workers and is
 * fast enough for one `recordValue` per response.
 */
export const LATENCY_MIN_US = 1
export const LATENCY_MAX_US = 60_000_000
const SIGNIFICANT_DIGITS = 3

export function latencyHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: LATENCY_MIN_US,
    highestTrackableValue: LATENCY_MAX_US,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    autoResize: false,
    useWebAssembly: false,
  })
}

/**
 * Per-second samples (requests/s, bytes/s): any non-negative count, auto-resizing. 5 digits:
 * there are few samples, and a mean printed above the max (bucket rounding) would confuse.
 */
export function rateHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 2, numberOfSignificantValueDigits: 5, autoResize: true, useWebAssembly: false })
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h)
}

export function decodeHistogram(data: string): Histogram {
  return hdr.decodeFromCompressedBase64(data, 32, false)
}

/** Microseconds (a float) to what the histogram takes: an integer within its range. */
export function clampMicros(us: number): number {
  const v = Math.round(us)
  return v < LATENCY_MIN_US ? LATENCY_MIN_US : v > LATENCY_MAX_US ? LATENCY_MAX_US : v
}

export interface LatencySummary {
  /** Milliseconds with microsecond precision (3 decimals). */
  p50: number
  p75: number
  p90: number
  p99: number
  p99_9: number
  p99_99: number
  min: number
  max: number
  mean: number
  stdev: number
  samples: number
}

const us2ms = (us: number) => Math.round(us) / 1000

export function summarizeLatency(h: Histogram): LatencySummary {
  const n = h.totalCount
  const at = (p: number) => (n === 0 ? 0 : us2ms(h.getValueAtPercentile(p)))
  return {
    p50: at(50),
    p75: at(75),
    p90: at(90),
    p99: at(99),
    p99_9: at(99.9),
    p99_99: at(99.99),
    min: n === 0 ? 0 : us2ms(h.minNonZeroValue),
    max: n === 0 ? 0 : us2ms(h.maxValue),
    mean: n === 0 ? 0 : us2ms(h.mean),
    stdev: n === 0 ? 0 : us2ms(h.stdDeviation),
    samples: n,
  }
}

export interface RateSummary {
  mean: number
  stdev: number
  min: number
  max: number
  /** Number of one-second samples. */
  samples: number
}

export function summarizeRate(h: Histogram): RateSummary {
  const n = h.totalCount
  const r = (x: number) => Math.round(x * 100) / 100
  return {
    mean: n === 0 ? 0 : r(h.mean),
    stdev: n === 0 ? 0 : r(h.stdDeviation),
    min: n === 0 ? 0 : h.minNonZeroValue === Number.MAX_SAFE_INTEGER ? 0 : minValue(h),
    max: n === 0 ? 0 : h.maxValue,
    samples: n,
  }
}

/** The smallest recorded value, zero included (minNonZeroValue skips a second with 0). */
function minValue(h: Histogram): number {
  return h.getValueAtPercentile(0)
}

/** Counts of the latency distribution in `bins` logarithmic bins from min to max (µs). */
export function latencyBins(h: Histogram, bins = 16): { fromUs: number; toUs: number; count: number }[] {
  const n = h.totalCount
  if (n === 0) return []
  const lo = Math.max(1, h.minNonZeroValue)
  const hi = Math.max(lo + 1, h.maxValue)
  const ratio = Math.pow(hi / lo, 1 / bins)
  const edges: number[] = []
  for (let i = 0; i <= bins; i++) edges.push(i === bins ? hi : lo * Math.pow(ratio, i))
  const out = edges.slice(0, -1).map((from, i) => ({ fromUs: from, toUs: edges[i + 1], count: 0 }))
  // One pass over the recorded values (the JS histogram's iterator).
  const it = (h as unknown as { recordedValuesIterator: { reset(): void; hasNext(): boolean; next(): { valueIteratedTo: number; countAtValueIteratedTo: number } } }).recordedValuesIterator
  it.reset()
  let bin = 0
  while (it.hasNext()) {
    const v = it.next()
    while (bin < bins - 1 && v.valueIteratedTo >= out[bin].toUs) bin++
    out[bin].count += v.countAtValueIteratedTo
  }
  return out
}
