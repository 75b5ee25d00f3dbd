#!/usr/bin/env node
/**
 * npm run bench:bench — how fast and how cheap `stmpcat bench` is, from one run of this script.
 *
 *  1. requests/s of `stmpcat bench` against one StmpServer (echo, in a child process) beside a
 *     minimal hand-written STMP client loop in this script, same connections, same target
 *     (goal: at least 90%);
 *  2. `stmpcat bench -w 2` beside `-w 1` (goal: not lower); beside it, as a control, the minimal
 *     loop split the same way (its connections on two worker threads beside all on one thread,
 *     each in a child process), which shows what splitting costs any client on this machine;
 *     and the same pair at `-p 16`, where each wake-up carries more responses;
 *  3. CPU milliseconds per 1,000 requests at the same request rate: `stmpcat bench -R` against
 *     the StmpServer beside autocannon `-R` against a Node HTTP echo server of the same shape
 *     (goal: lower).
 *
 * Needs `npm run build` (dist/). Env: BENCH_SECONDS (default 5), BENCH_RATE (default 2000),
 * BENCH_CONNECTIONS (default 10). Shared machines are noisy: the load average is printed with
 * the figures, and throughput ratios are the median of paired rounds (BENCH_ROUNDS, default 3).
 */
import { spawn } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { isMainThread, Worker, workerData, parentPort } from 'node:worker_threads'

const SELF = fileURLToPath(import.meta.url)
const BIN = fileURLToPath(new URL('../bin/run.js', import.meta.url))
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const RATE = Number(process.env.BENCH_RATE ?? 2000)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)

/** The target: the real StmpServer (echo) from dist/, on 127.0.0.1 port 0. */
async function stmpServer() {
  const { StmpServer } = await import('../dist/lib/session/server.js')
  const { parseAddress } = await import('../dist/lib/transport/index.js')
  const server = new StmpServer()
  const listener = await server.listen(parseAddress('tcp://127.0.0.1:0', { listening: true }))
  process.stdout.write(`port ${listener.address.port}\n`)
}

/** An HTTP echo server of the same shape: every POST gets 200 with its own body. */
function httpServer() {
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
      res.end(body)
    })
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${server.address().port}\n`))
}

/** autocannon at a fixed rate; prints its requests and this process's CPU time while it ran. */
async function runAutocannon(url) {
  const { default: autocannon } = await import('autocannon')
  const cpu0 = process.cpuUsage()
  const result = await autocannon({ url, method: 'POST', body: '', connections: CONNECTIONS, duration: SECONDS, overallRate: RATE })
  const cpu = process.cpuUsage(cpu0)
  process.stdout.write(`${JSON.stringify({ requests: result.requests.total, non2xx: result.non2xx, errors: result.errors, cpuMs: (cpu.user + cpu.system) / 1000 })}\n`)
}

function startChild(flag) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, flag], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d) => {
      out += d
      const m = /port (\d+)/.exec(out)
      if (m) resolve({ port: Number(m[1]), stop: () => child.kill('SIGKILL') })
    })
    child.on('exit', (code) => reject(new Error(`${flag} exited ${code}`)))
  })
}

function run(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d })
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d })
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`${args.join(' ')} exited ${code}: ${err}`))
      else resolve(JSON.parse(out))
    })
  })
}

function stmpcat(url, extra, seconds = SECONDS) {
  return run([BIN, 'bench', url, '-c', String(CONNECTIONS), '-d', `${seconds}s`, '--json', ...extra])
}

/**
 * The minimal STMP client: handshake, then on each connection one request in flight; each
 * response (any frame after the handshake) sends the same bytes again. No ids, no timing.
 */
function minimalLoop(port, connections = CONNECTIONS) {
  const url = Buffer.from('/?stmp_version=3&stmp_content_type=application/json')
  const handshake = Buffer.concat([Buffer.from([url.length]), url])
  const body = Buffer.concat([Buffer.from([0x10, 0x00, 0x01]), Buffer.from('test.echo\n')])
  const request = Buffer.concat([Buffer.from([body.length]), body])
  let count = 0
  let running = true
  const sockets = []
  return new Promise((resolve) => {
    let open = 0
    for (let i = 0; i < connections; i++) {
      const socket = net.connect(port, '127.0.0.1')
      socket.setNoDelay(true)
      sockets.push(socket)
      let pending = null
      let handshaken = false
      socket.on('connect', () => socket.write(handshake))
      socket.on('data', (chunk) => {
        const buf = pending === null ? chunk : Buffer.concat([pending, chunk])
        let pos = 0
        for (;;) {
          // LENGTH: unsigned LEB128 (wire notes §2).
          let length = 0
          let shift = 0
          let p = pos
          let complete = false
          while (p < buf.length) {
            const byte = buf[p++]
            length |= (byte & 0x7f) << shift
            shift += 7
            if ((byte & 0x80) === 0) {
              complete = true
              break
            }
          }
          if (!complete || p + length > buf.length) break
          pos = p + length
          if (!handshaken) {
            handshaken = true
            if (++open === connections) {
              for (const s of sockets) s.write(request)
              const cpu0 = process.cpuUsage()
              setTimeout(() => {
                running = false
                const cpu = process.cpuUsage(cpu0)
                for (const s of sockets) s.destroy()
                resolve({ rate: count / SECONDS, cpuPerThousand: (cpu.user + cpu.system) / 1000 / (count / 1000) })
              }, SECONDS * 1000)
            }
            continue
          }
          count++
          if (running) socket.write(request)
        }
        pending = pos < buf.length ? buf.subarray(pos) : null
      })
      socket.on('error', () => undefined)
    }
  })
}

/**
 * The control for `-w 2`: the minimal loop with its connections split over `threads` worker
 * threads (1: all on this process's main thread, as `-w 1` runs), in a child process like
 * `stmpcat bench`. Prints the total requests/s.
 */
async function minimalSplit(port, threads) {
  if (threads === 1) {
    process.stdout.write(`${JSON.stringify({ rate: (await minimalLoop(port)).rate })}\n`)
    process.exit(0)
  }
  const share = (i) => Math.floor(CONNECTIONS / threads) + (i < CONNECTIONS % threads ? 1 : 0)
  const rates = await Promise.all(Array.from({ length: threads }, (_, i) => new Promise((resolve, reject) => {
    const worker = new Worker(SELF, { workerData: { port, connections: share(i) } })
    worker.once('message', resolve)
    worker.once('error', reject)
  })))
  process.stdout.write(`${JSON.stringify({ rate: rates.reduce((a, b) => a + b, 0) })}\n`)
  process.exit(0)
}

const load = () => os.loadavg().map((x) => x.toFixed(2)).join(', ')
const fmt = (n) => Math.round(n).toLocaleString('en-US')

async function main() {
  const startLoad = load()
  const stmp = await startChild('--stmp-server')
  const target = `tcp://127.0.0.1:${stmp.port}`
  const say = (line) => process.stdout.write(`${line}\n`)
  say(`stmpcat bench speed: ${CONNECTIONS} connections, pipelining 1, ${SECONDS} s per run, target StmpServer (echo) in a child process at ${target}`)
  say(`load average at start: ${startLoad} (${os.cpus().length} cores)`)
  try {
    // Warm the server's JIT so the first contender is not penalised.
    await stmpcat(target, [], 1)
    // Paired rounds (each contender right after the other) so drift in the machine's load
    // hits both; the ratio reported is the median of the per-round ratios.
    const rounds = []
    for (let round = 1; round <= ROUNDS; round++) {
      const minimal = await minimalLoop(stmp.port)
      const oneRun = await stmpcat(target, ['-w', '1'])
      const one = oneRun.requestsPerSecond.overall
      const two = (await stmpcat(target, ['-w', '2'])).requestsPerSecond.overall
      const splitOne = (await run([SELF, '--minimal-split', String(stmp.port), '1'])).rate
      const splitTwo = (await run([SELF, '--minimal-split', String(stmp.port), '2'])).rate
      const oneP16 = (await stmpcat(target, ['-w', '1', '-p', '16'])).requestsPerSecond.overall
      const twoP16 = (await stmpcat(target, ['-w', '2', '-p', '16'])).requestsPerSecond.overall
      rounds.push({ minimal: minimal.rate, one, two, minimalCpu: minimal.cpuPerThousand, oneCpu: oneRun.cpu.perThousandRequestsMs, splitOne, splitTwo, oneP16, twoP16 })
      say(`round ${round}: minimal loop ${fmt(minimal.rate)} req/s (${minimal.cpuPerThousand.toFixed(1)} ms CPU per 1,000), stmpcat bench -w 1 ${fmt(one)} req/s (${oneRun.cpu.perThousandRequestsMs.toFixed(1)} ms CPU per 1,000), -w 2 ${fmt(two)} req/s; minimal loop on 1 thread ${fmt(splitOne)}, on 2 worker threads ${fmt(splitTwo)} req/s; at -p 16: -w 1 ${fmt(oneP16)}, -w 2 ${fmt(twoP16)} req/s (load ${load()})`)
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
    const r1 = median(rounds.map((r) => r.one / r.minimal))
    const r2 = median(rounds.map((r) => r.two / r.one))
    say(`stmpcat bench / minimal loop, requests/s: median ratio ${r1.toFixed(3)} (goal >= 0.90) ${r1 >= 0.9 ? 'MET' : 'NOT MET'}`)
    const rc = median(rounds.map((r) => r.oneCpu / r.minimalCpu))
    say(`client CPU per request, stmpcat bench -w 1 / minimal loop: median ratio ${rc.toFixed(3)} (the load generator's own cost, less sensitive to other load on the machine)`)
    say(`stmpcat bench -w 2 / -w 1, requests/s: median ratio ${r2.toFixed(3)} (goal >= 1.00) ${r2 >= 1 ? 'MET' : 'NOT MET'}`)
    const rs = median(rounds.map((r) => r.splitTwo / r.splitOne))
    say(`  control: the minimal loop on 2 worker threads / on 1 thread: median ratio ${rs.toFixed(3)} (what splitting ${CONNECTIONS} connections over two threads costs any client while the server shares the ${os.cpus().length} cores)`)
    const rp = median(rounds.map((r) => r.twoP16 / r.oneP16))
    say(`  at -p 16 (more responses per wake-up): stmpcat bench -w 2 / -w 1, requests/s: median ratio ${rp.toFixed(3)}`)

    const httpTarget = await startChild('--http-server')
    try {
      // Paired rounds again: the same rate for both, the median of the per-round ratios.
      const cpuRatios = []
      for (let round = 1; round <= ROUNDS; round++) {
        const mine = await stmpcat(target, ['-R', String(RATE)])
        const theirs = await run([SELF, '--autocannon', `http://127.0.0.1:${httpTarget.port}/`])
        const mineCpu = mine.cpu.perThousandRequestsMs
        const theirCpu = theirs.cpuMs / (theirs.requests / 1000)
        cpuRatios.push(mineCpu / theirCpu)
        say(`round ${round} at -R ${fmt(RATE)}: stmpcat bench ${fmt(mine.totals.responses / SECONDS)} req/s, ${mineCpu.toFixed(1)} ms CPU per 1,000 requests; autocannon (HTTP echo) ${fmt(theirs.requests / SECONDS)} req/s, ${theirCpu.toFixed(1)} ms CPU per 1,000 (load ${load()})`)
      }
      const r3 = median(cpuRatios)
      say(`CPU per 1,000 requests at ${fmt(RATE)} req/s, stmpcat bench / autocannon: median ratio ${r3.toFixed(3)} (goal < 1) ${r3 < 1 ? 'MET' : 'NOT MET'}`)
    } finally {
      httpTarget.stop()
    }
    say(`load average at end: ${load()}`)
  } finally {
    stmp.stop()
  }
}

const mode = process.argv[2]
if (!isMainThread) parentPort.postMessage((await minimalLoop(workerData.port, workerData.connections)).rate)
else if (mode === '--minimal-split') await minimalSplit(Number(process.argv[3]), Number(process.argv[4]))
else if (mode === '--stmp-server') await stmpServer()
else if (mode === '--http-server') httpServer()
else if (mode === '--autocannon') await runAutocannon(process.argv[3])
else await main()
