#!/usr/bin/env node
/**
 * npm run bench:dialect [-- NAME] — `stmpcat bench --dialect NAME` beside `stmpcat bench` (STMP
 * v3), each against its own embedded echo server in the same dialect, run back to back in paired
 * rounds (v3 first, then NAME, BENCH_ROUNDS times, default 5; BENCH_SECONDS each, default 3).
 * Prints each pair's requests/s and p50/p99, and the median of the paired ratios (goal for
 * stmp-go: at least 90%). Shared machines are noisy: the load average is printed with the figures.
 * Needs `npm run build` (dist/).
 */
import { spawnSync } from 'node:child_process'
import os from 'node:os'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const DIALECT = process.argv[2] ?? 'stmp-go'
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)

function bench(dialect) {
  const args = [BIN, 'bench', '-d', `${SECONDS}s`, '--json', ...(dialect ? ['--dialect', dialect] : [])]
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (r.status !== 0) throw new Error(`stmpcat ${args.slice(1).join(' ')} exited ${r.status}: ${r.stderr}`)
  const j = JSON.parse(r.stdout)
  return { rps: j.requestsPerSecond.overall, p50: j.latency.p50, p99: j.latency.p99, errors: j.totals?.errors ?? 0 }
}

const ratios = []
process.stdout.write(`bench:dialect ${DIALECT} vs stmp-v3, ${ROUNDS} rounds of ${SECONDS}s each, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`)
for (let i = 1; i <= ROUNDS; i++) {
  const v3 = bench(undefined)
  const other = bench(DIALECT)
  const ratio = other.rps / v3.rps
  ratios.push(ratio)
  const f = (b) => `${Math.round(b.rps).toLocaleString('en-US')} req/s p50 ${b.p50} ms p99 ${b.p99} ms`
  process.stdout.write(`round ${i}: stmp-v3 ${f(v3)} | ${DIALECT} ${f(other)} | ${(ratio * 100).toFixed(1)}%\n`)
}
ratios.sort((a, b) => a - b)
const median = ratios[Math.floor(ratios.length / 2)]
process.stdout.write(`median ${DIALECT}/stmp-v3: ${(median * 100).toFixed(1)}% (goal >= 90%), load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`)
process.exitCode = median >= 0.9 ? 0 : 1
