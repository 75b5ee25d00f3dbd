import type { BenchResult, GateResult } from './result.js'

/** The SLO gates (`--max-p99`, `--max-error-rate`, `--min-rps`). Exit 8 when one fails. */
export interface Gates {
  maxP99Ms?: number
  maxErrorRate?: number
  minRps?: number
}

export function evaluateGates(result: BenchResult, gates: Gates): GateResult[] {
  const out: GateResult[] = []
  if (gates.maxP99Ms !== undefined) {
    // No latency recorded: the gate cannot be met.
    const value = result.latency.samples === 0 ? Number.POSITIVE_INFINITY : result.latency.p99
    out.push({ name: 'max-p99', limit: gates.maxP99Ms, value: Number.isFinite(value) ? value : -1, passed: value <= gates.maxP99Ms })
  }
  if (gates.maxErrorRate !== undefined) {
    out.push({ name: 'max-error-rate', limit: gates.maxErrorRate, value: result.errors.rate, passed: result.errors.rate <= gates.maxErrorRate })
  }
  if (gates.minRps !== undefined) {
    const value = result.requestsPerSecond.mean
    out.push({ name: 'min-rps', limit: gates.minRps, value, passed: value >= gates.minRps })
  }
  return out
}

/** Nothing succeeded: no 2xx response (request mode) or no push sent (push mode). */
export function noSuccess(result: BenchResult): boolean {
  return result.totals.ok === 0
}
