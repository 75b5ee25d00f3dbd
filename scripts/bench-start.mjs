#!/usr/bin/env node
// Start-up cost of one-shot stmpcat commands, as a ratio to bare Node's own start (docs/startup.md).
// Every case is a fresh process, timed from spawn to exit; the cases take turns round by round so
// a busy period of the machine falls on all of them alike. Printed per case: the median wall time,
// its ratio to the median of `node -e ''`, and the median CPU time of the child (user + system).
//
//   node scripts/bench-start.mjs [--runs 20] [--max-fetch 2.0] [--max-version 1.5]
//
// `fetch` runs against a `stmpcat serve` this script starts on free ports (tcp and ws). Exits 1
// when fetch over tcp is above --max-fetch or --version above --max-version times bare Node, and
// 2 when a command fails or prints something else than expected. Run `npm run build` first.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const BIN = join(ROOT, 'bin/run.js')
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    'max-fetch': { type: 'string', default: '2.0' },
    'max-version': { type: 'string', default: '1.5' },
  },
})
const RUNS = Math.max(1, Number(values.runs))

if (!existsSync(join(ROOT, 'dist/commands/fetch.js'))) {
  console.error('bench-start: dist/ is missing; run npm run build first')
  process.exit(2)
}

/** `stmpcat serve` on a free tcp port and a free ws port; resolves with both URLs. */
function startServe() {
  const child = spawn(process.execPath, [BIN, 'serve', 'tcp://127.0.0.1:0', 'ws://127.0.0.1:0/stmp'], { stdio: ['pipe', 'ignore', 'pipe'] })
  return new Promise((resolve, reject) => {
    let err = ''
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err += d
      const urls = [...err.matchAll(/listening on (\S+)/g)].map((m) => m[1])
      if (urls.length === 2) resolve({ child, tcp: urls.find((u) => u.startsWith('tcp:')), ws: urls.find((u) => u.startsWith('ws:')) })
    })
    child.on('exit', (code) => reject(new Error(`stmpcat serve exited ${code}: ${err}`)))
  })
}

// Children's CPU time in clock ticks (Linux /proc: cutime + cstime of this process), read after
// each child was reaped; undefined elsewhere.
const TICK_MS = 10
function childTicks() {
  try {
    const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')
    return Number(f[13]) + Number(f[14])
  } catch {
    return undefined
  }
}

/** One run of `args`: wall ms, CPU ms, stdout, exit code. */
function runOnce(args, input) {
  return new Promise((resolve, reject) => {
    const before = childTicks()
    const started = performance.now()
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d })
    child.on('error', reject)
    child.on('close', (code) => {
      const wall = performance.now() - started
      const after = childTicks()
      resolve({ wall, cpu: before === undefined || after === undefined ? undefined : (after - before) * TICK_MS, out, err, code })
    })
    child.stdin.end(input ?? '')
  })
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

const serve = await startServe()
const PAYLOAD = '{"a":1}'
const cases = [
  { name: "node -e ''", args: ['-e', ''], expect: '' },
  { name: 'stmpcat --version', args: [BIN, '--version'], expect: /^stmp-cli\/\S+ / },
  { name: 'stmpcat fetch (tcp)', args: [BIN, 'fetch', serve.tcp, 'test.echo', PAYLOAD], expect: `${PAYLOAD}\n` },
  { name: 'stmpcat fetch (ws)', args: [BIN, 'fetch', serve.ws, 'test.echo', PAYLOAD], expect: `${PAYLOAD}\n` },
  { name: 'stmpcat decode (hex)', args: [BIN, 'decode', '--json'], input: '03 00 00 07\n', expect: /"kind":"ping"/ },
]
for (const c of cases) {
  c.wall = []
  c.cpu = []
}

const load = loadavg()
let failed
try {
  // One warm-up round (file system cache), then RUNS rounds, every case once per round.
  for (let round = -1; round < RUNS; round++) {
    for (const c of cases) {
      const r = await runOnce(c.args, c.input)
      const ok = r.code === 0 && (typeof c.expect === 'string' ? r.out === c.expect : c.expect.test(r.out))
      if (!ok) {
        failed = `${c.name}: exit ${r.code}, stdout ${JSON.stringify(r.out.slice(0, 200))}, stderr ${JSON.stringify(r.err.slice(0, 300))}`
        break
      }
      if (round >= 0) {
        c.wall.push(r.wall)
        if (r.cpu !== undefined) c.cpu.push(r.cpu)
      }
    }
    if (failed) break
  }
} finally {
  serve.child.kill('SIGTERM')
}
if (failed) {
  console.error(`bench-start: ${failed}`)
  process.exit(2)
}

const loadEnd = loadavg()
const base = median(cases[0].wall)
console.log(`bench-start: median of ${RUNS} runs per case, Node ${process.version}, ${cpus().length} cores, load average ${load.map((l) => l.toFixed(2)).join(' ')} at start, ${loadEnd.map((l) => l.toFixed(2)).join(' ')} at end`)
console.log(`${'case'.padEnd(24)}${'wall ms'.padStart(9)}${'ratio'.padStart(8)}${'cpu ms'.padStart(9)}`)
const ratios = {}
for (const c of cases) {
  const wall = median(c.wall)
  ratios[c.name] = wall / base
  const cpu = c.cpu.length > 0 ? median(c.cpu).toFixed(0) : '-'
  console.log(`${c.name.padEnd(24)}${wall.toFixed(1).padStart(9)}${`${(wall / base).toFixed(2)}x`.padStart(8)}${cpu.padStart(9)}`)
}

const maxFetch = Number(values['max-fetch'])
const maxVersion = Number(values['max-version'])
const misses = []
if (ratios['stmpcat fetch (tcp)'] > maxFetch) misses.push(`fetch (tcp) ${ratios['stmpcat fetch (tcp)'].toFixed(2)}x > ${maxFetch}x`)
if (ratios['stmpcat --version'] > maxVersion) misses.push(`--version ${ratios['stmpcat --version'].toFixed(2)}x > ${maxVersion}x`)
if (misses.length > 0) {
  console.log(`bench-start: FAIL: ${misses.join('; ')}`)
  process.exit(1)
}
console.log(`bench-start: ok (fetch over tcp <= ${maxFetch}x, --version <= ${maxVersion}x bare Node)`)
