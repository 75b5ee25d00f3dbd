#!/usr/bin/env node
/**
 * npm run bench:artillery — the Artillery engine (packages/artillery-engine-stmp) beside
 * `stmpcat bench` and beside Artillery's own WebSocket engine, from one run of this script:
 *
 *  1. the same load (C connections, N requests of the same payload, one in flight per
 *     connection) through `artillery run` with engine stmp (the scenario `stmpcat bench
 *     --artillery` writes for that command line) and through `stmpcat bench`, both against one
 *     `stmpcat serve` (echo, WebSocket) whose --stats must count exactly the requests sent;
 *  2. the CPU milliseconds per 1,000 requests of Artillery with engine stmp (stmpcat serve,
 *     ws://) beside Artillery with its own engine `ws` (a plain `ws` echo server in this
 *     script; each send waits for its echo through a capture). Artillery's fixed cost (start,
 *     workers, report) is taken out: each engine also runs a one-request scenario, and its CPU is
 *     subtracted;
 *  3. ratios: stmp engine / ws engine CPU per 1,000; Artillery stmp / stmpcat bench CPU per 1,000
 *     and requests/s.
 *
 * CPU is the user+system time of the child process and its threads (bash's `times` for the
 * children of one shell). Needs `npm run build` and `npm ci` (Artillery 2.0.21 is a devDependency).
 * Env: BENCH_CONNECTIONS (default 10), BENCH_REQUESTS (default 50000). Artillery runs one worker
 * thread per CPU but one (at least 1): on 2 CPUs, one engine in one thread.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocketServer } from 'ws'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const BIN = join(ROOT, 'bin/run.js')
const ARTILLERY = join(ROOT, 'node_modules/.bin/artillery')
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 50000)
const PAYLOAD = '{"n":1,"text":"hello"}'
const ENV = { ...process.env, ARTILLERY_DISABLE_TELEMETRY: 'true', NO_COLOR: '1' }
const dir = mkdtempSync(join(os.tmpdir(), 'stmpcat-bench-artillery-'))

/** Runs a command under bash; resolves with its output, exit code, wall ms and children's CPU ms. */
function timed(cmd, args) {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn('bash', ['-c', '"$@"; rc=$?; times >&2; exit $rc', 'bash', cmd, ...args], { cwd: ROOT, env: ENV })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => {
      // `times`: the shell's own user/sys, then its children's: "0m1.234s 0m0.210s".
      const lines = stderr.trim().split('\n')
      const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s/.exec(lines.at(-1) ?? '')
      const cpuMs = m ? (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000 : Number.NaN
      resolve({ code, stdout, stderr: lines.slice(0, -2).join('\n'), wallMs: performance.now() - started, cpuMs })
    })
  })
}

/** `stmpcat serve ws://127.0.0.1:0/stmp --stats --json`: its URL, and its stats at the end. */
function startServe() {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', 'ws://127.0.0.1:0/stmp', '--stats', '--json', '--max-connections', '100000'], { cwd: ROOT })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d
      const first = out.split('\n')[0]
      if (out.includes('\n') && resolve.pending !== false) {
        resolve.pending = false
        const url = JSON.parse(first).urls[0]
        resolve({
          url,
          async stop() {
            child.kill('SIGTERM')
            await new Promise((r) => child.once('exit', r))
            let requestsIn = 0
            for (const line of out.split('\n')) {
              if (!line.includes('"event":"stats"')) continue
              const e = JSON.parse(line)
              if (e.final) requestsIn += e.requestsIn
            }
            return { requestsIn }
          },
        })
      }
    })
    child.on('error', reject)
    child.on('exit', (code) => { if (resolve.pending !== false) reject(new Error(`serve exited ${code}`)) })
  })
}

/** A plain `ws` echo server (Artillery's ws engine's natural target). */
function wsEcho() {
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => resolve({ url: `ws://127.0.0.1:${wss.address().port}`, close: () => new Promise((r) => wss.close(r)) }))
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })))
  })
}

async function artillery(file) {
  const output = join(dir, `${Math.random().toString(36).slice(2)}.json`)
  const run = await timed(ARTILLERY, ['run', '--output', output, file])
  if (run.code !== 0) throw new Error(`artillery run ${file} exited ${run.code}:\n${run.stdout.slice(-2000)}\n${run.stderr.slice(-2000)}`)
  const report = JSON.parse(readFileSync(output, 'utf8')).aggregate
  return { ...run, report }
}

/** The scenario of stmpcat bench --artillery for the command line (the same load). */
async function stmpScenario(url, connections, requests) {
  const file = join(dir, `stmp-${connections}-${requests}.yml`)
  const r = await timed(process.execPath, [BIN, 'bench', url, '-c', String(connections), '-n', String(requests), '--data', PAYLOAD, '--artillery', file])
  if (r.code !== 0) throw new Error(`bench --artillery exited ${r.code}: ${r.stderr}`)
  return file
}

function wsScenario(url, connections, requests) {
  const file = join(dir, `ws-${connections}-${requests}.yml`)
  writeFileSync(file, `config:
  target: "${url}"
  phases:
    - { duration: 1, arrivalRate: ${connections} }
scenarios:
  - engine: ws
    flow:
      - loop:
          - send: { payload: '${PAYLOAD}', capture: { json: "$.n", as: n } }
        count: ${Math.ceil(requests / connections)}
`)
  return file
}

const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a')

async function main() {
  console.log(`bench:artillery: ${CONNECTIONS} connections, ${REQUESTS} requests (one in flight per connection), payload ${PAYLOAD}`)
  console.log(`node ${process.version}, ${os.cpus().length} CPUs (Artillery workers: ${Math.max(1, os.cpus().length - 1)}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  const serve = await startServe()
  const echo = await wsEcho()
  try {
    // Artillery's fixed cost per engine: one VU, one request.
    const stmpBase = await artillery(await stmpScenario(serve.url, 1, 1))
    const wsBase = await artillery(wsScenario(echo.url, 1, 1))
    const stmpRun = await artillery(await stmpScenario(serve.url, CONNECTIONS, REQUESTS))
    const wsRun = await artillery(wsScenario(echo.url, CONNECTIONS, REQUESTS))
    const bench = await timed(process.execPath, [BIN, 'bench', serve.url, '-c', String(CONNECTIONS), '-n', String(REQUESTS), '--data', PAYLOAD, '--json'])
    if (bench.code !== 0) throw new Error(`stmpcat bench exited ${bench.code}: ${bench.stderr}`)
    const benchResult = JSON.parse(bench.stdout)
    const seen = await serve.stop()

    const c = stmpRun.report.counters
    const sent = c['stmp.requests']
    const wsSent = wsRun.report.counters['websocket.messages_sent']
    const stmpCpu = (stmpRun.cpuMs - stmpBase.cpuMs) / sent * 1000
    const wsCpu = (wsRun.cpuMs - wsBase.cpuMs) / wsSent * 1000
    // bench's own figure: its CPU during the load (process start excluded, like Artillery's fixed cost).
    const benchCpu = benchResult.cpu.perThousandRequestsMs
    // Requests/s of the load itself. Artillery's VUs arrive spread over its first second, so its
    // wall time is not the load's: C connections x (requests per VU / mean VU session length).
    const perVu = (run, n) => n / CONNECTIONS / (run.report.summaries['vusers.session_length'].mean / 1000)
    const stmpSeconds = stmpRun.report.summaries['vusers.session_length'].mean / 1000
    const wsSeconds = wsRun.report.summaries['vusers.session_length'].mean / 1000
    const stmpRps = CONNECTIONS * perVu(stmpRun, sent)
    const wsRps = CONNECTIONS * perVu(wsRun, wsSent)
    const benchRps = benchResult.requestsPerSecond.overall
    // The one-request stmp run, the Artillery run, the bench run (the ws runs go to the ws echo).
    const expected = 1 + sent + benchResult.totals.sent
    console.log('')
    console.log('| run | requests | mean VU s / measured s | req/s | p50 ms | p99 ms | process CPU s | CPU ms / 1,000 req (fixed cost out) |')
    console.log('|---|---|---|---|---|---|---|---|')
    const rt = stmpRun.report.summaries['stmp.response_time']
    console.log(`| artillery, engine stmp (stmp-v3 ws://, stmpcat serve) | ${sent} | ${fmt(stmpSeconds, 2)} | ${fmt(stmpRps, 0)} | ${rt.median} | ${rt.p99} | ${fmt(stmpRun.cpuMs / 1000, 2)} | ${fmt(stmpCpu)} |`)
    const wrt = wsRun.report.summaries['vusers.session_length']
    console.log(`| artillery, engine ws (plain ws echo) | ${wsSent} | ${fmt(wsSeconds, 2)} | ${fmt(wsRps, 0)} | n/a | n/a | ${fmt(wsRun.cpuMs / 1000, 2)} | ${fmt(wsCpu)} |`)
    console.log(`| stmpcat bench (same command line) | ${benchResult.totals.sent} | ${fmt(benchResult.elapsedMs / 1000, 2)} | ${fmt(benchRps, 0)} | ${fmt(benchResult.latency.p50, 3)} | ${fmt(benchResult.latency.p99, 3)} | ${fmt(bench.cpuMs / 1000, 2)} | ${fmt(benchCpu)} |`)
    console.log('')
    console.log(`Artillery's fixed cost (one request): engine stmp ${fmt(stmpBase.cpuMs / 1000, 2)} s CPU, ${fmt(stmpBase.wallMs / 1000, 1)} s wall; engine ws ${fmt(wsBase.cpuMs / 1000, 2)} s CPU, ${fmt(wsBase.wallMs / 1000, 1)} s wall (subtracted above). ws engine session length ${wrt.max} ms max.`)
    console.log(`serve counted ${seen.requestsIn} requests; expected ${expected} (the one-request run, ${sent} through Artillery, ${benchResult.totals.sent} through bench): ${seen.requestsIn === expected ? 'none lost' : 'MISMATCH'}`)
    console.log('')
    console.log(`ratio CPU per 1,000 requests, Artillery engine stmp / Artillery engine ws: ${fmt(stmpCpu / wsCpu, 2)}`)
    console.log(`ratio CPU per 1,000 requests, Artillery engine stmp / stmpcat bench:      ${fmt(stmpCpu / benchCpu, 2)}`)
    console.log(`ratio requests/s, Artillery engine stmp / stmpcat bench:                  ${fmt(stmpRps / benchRps, 3)}`)
    console.log(`ratio requests/s, Artillery engine stmp / Artillery engine ws:            ${fmt(stmpRps / wsRps, 2)}`)
    if (seen.requestsIn !== expected) process.exitCode = 1
  } finally {
    await echo.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
