#!/usr/bin/env node
/**
 * RPC benchmark (`npm run bench:rpc`; uses `dist/`, so build first).
 *
 * Throughput of stmpcat's session layer (StmpServer + connect() + session.call(), the callback form
 * of session.request()) against
 * floors written here in plain Node, with the same connections and requests in flight, the
 * servers in a child process and the load in this one (two cores: one each):
 *
 * 1. TCP floor: a length-prefixed echo. The client writes `[u32 len][payload]` frames, the
 *    server echoes every frame it reads; per response the client counts and writes the next
 *    request (writes of one read are corked into one). Targets: STMP over TCP reaches >= 85% of
 *    the floor at 1 connection x 1 in flight, >= 50% at 50 x 16.
 * 2. WebSocket baseline: a `ws` server that JSON.parses `{id, action, payload}` messages and
 *    sends back JSON.stringify of the same; a `ws` client doing the same. Target: STMP over
 *    WebSocket (binary frames) >= 1.5x that at 50 x 16.
 * 3. Idle memory: a StmpServer (child process, `ulimit -n` raised) with 10,000 idle TCP
 *    connections that finished the handshake. Target: RSS < 300 MB.
 *
 * Every throughput figure is the best of --runs runs of --duration seconds after a warm-up
 * (best, not median: other processes on the machine only ever slow a run down). The load
 * average is printed beside the figures. Exit status 1 when a target is missed.
 *
 * Usage: node scripts/bench-rpc.mjs [--duration 1.5] [--warmup 0.5] [--runs 6] [--idle 10000] [--only 1|2|3] [--json]
 */
import { spawn } from 'node:child_process'
import net from 'node:net'
import { loadavg } from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { WebSocket, WebSocketServer } from 'ws'
import { encodeHandshakeRequest } from '../dist/lib/codec/index.js'
import { StmpServer, connect } from '../dist/lib/session/index.js'
import { parseAddress } from '../dist/lib/transport/index.js'

const SCRIPT = fileURLToPath(import.meta.url)
function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const DURATION = arg('duration', 1.5) * 1000
const WARMUP = arg('warmup', 0.5) * 1000
const RUNS = arg('runs', 6)
const IDLE = arg('idle', 10_000)
const JSON_OUT = process.argv.includes('--json')
/** `--only 2`: run only that comparison (1-3) and skip the idle test; for profiling. */
const ONLY = arg('only', 0)

const PAYLOAD_OBJECT = { hello: 'world', n: 12345, tags: ['a', 'b'] }
const PAYLOAD = Buffer.from(JSON.stringify(PAYLOAD_OBJECT))

// ---------------------------------------------------------------------------------------------
// Servers (child process: `bench-rpc.mjs --server MODE`); print {"port"} on stdout, answer
// "rss" lines on stdin with {"rss"}.

async function runServer(mode) {
  let port
  if (mode === 'floor') {
    const server = net.createServer((socket) => {
      socket.setNoDelay(true)
      let pending = null
      socket.on('data', (chunk) => {
        let buf = pending ? Buffer.concat([pending, chunk]) : chunk
        let end = 0
        while (buf.length - end >= 4) {
          const len = buf.readUInt32BE(end)
          if (buf.length - end - 4 < len) break
          end += 4 + len
        }
        // Every complete frame goes back as it came, in one write.
        if (end > 0) socket.write(end === buf.length ? buf : buf.subarray(0, end))
        pending = end === buf.length ? null : Buffer.from(buf.subarray(end))
      })
      socket.on('error', () => undefined)
    })
    await new Promise((r) => server.listen(0, '127.0.0.1', r))
    port = server.address().port
  } else if (mode === 'ws-json') {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
    wss.on('connection', (ws) => {
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString())
        ws.send(JSON.stringify({ id: m.id, action: m.action, payload: m.payload }))
      })
    })
    await new Promise((r) => wss.on('listening', r))
    port = wss.address().port
  } else {
    // stmp-tcp, stmp-ws, stmp-idle: the echo StmpServer.
    const server = new StmpServer()
    const url = mode === 'stmp-ws' ? 'ws://127.0.0.1:0/' : 'tcp://127.0.0.1:0'
    const listener = await server.listen(parseAddress(url, { listening: true }))
    port = listener.address.port
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`)
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'rss') {
      globalThis.gc?.()
      process.stdout.write(`${JSON.stringify({ rss: process.memoryUsage().rss, sessions: mode })}\n`)
    }
  }
  process.exit(0)
}

/** Starts a server child with the file-descriptor limit raised; resolves with its port. */
function startServer(mode) {
  const child = spawn('bash', ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"', process.execPath, '--expose-gc', SCRIPT, '--server', mode], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async () => {
    const { value } = await lines.next()
    if (value === undefined) throw new Error(`the ${mode} server process exited (is dist/ built? npm run build)`)
    return JSON.parse(value)
  }
  return next().then(({ port }) => ({
    port,
    async rss() {
      child.stdin.write('rss\n')
      return (await next()).rss
    },
    stop: () => new Promise((r) => { child.once('exit', r); child.stdin.end(); setTimeout(() => child.kill('SIGKILL'), 2000).unref() }),
  }))
}

// ---------------------------------------------------------------------------------------------
// Clients. Each `open(port)` returns `{ start(onResponse, inflight), close() }`; a connection
// keeps `inflight` requests outstanding, sending the next one from each response.

const floorClient = {
  async open(port) {
    const socket = net.connect({ port, host: '127.0.0.1' })
    socket.setNoDelay(true)
    await new Promise((r, j) => { socket.once('connect', r); socket.once('error', j) })
    const frame = Buffer.alloc(4 + PAYLOAD.length)
    frame.writeUInt32BE(PAYLOAD.length, 0)
    PAYLOAD.copy(frame, 4)
    return {
      start(onResponse, inflight) {
        let pending = null
        socket.on('data', (chunk) => {
          let buf = pending ? Buffer.concat([pending, chunk]) : chunk
          let off = 0
          socket.cork()
          while (buf.length - off >= 4) {
            const len = buf.readUInt32BE(off)
            if (buf.length - off - 4 < len) break
            off += 4 + len
            if (onResponse()) socket.write(frame)
          }
          socket.uncork()
          pending = off === buf.length ? null : Buffer.from(buf.subarray(off))
        })
        for (let i = 0; i < inflight; i++) socket.write(frame)
      },
      close: () => socket.destroy(),
    }
  },
}

function stmpClient(scheme) {
  return {
    async open(port) {
      const session = await connect(scheme === 'ws' ? `ws://127.0.0.1:${port}/` : `tcp://127.0.0.1:${port}`)
      return {
        start(onResponse, inflight) {
          // session.call(): request() with a callback, the API for load (no Promise per request).
          const next = (error) => { if (error === null && onResponse()) session.call('echo', PAYLOAD, next) }
          for (let i = 0; i < inflight; i++) session.call('echo', PAYLOAD, next)
        },
        close: () => session.transport.destroy(),
      }
    },
  }
}

const wsJsonClient = {
  async open(port) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false })
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j) })
    let nextId = 0
    const send = () => ws.send(JSON.stringify({ id: ++nextId, action: 'echo', payload: PAYLOAD_OBJECT }))
    return {
      start(onResponse, inflight) {
        ws.on('message', (data) => {
          JSON.parse(data.toString())
          if (onResponse()) send()
        })
        for (let i = 0; i < inflight; i++) send()
      },
      close: () => ws.terminate(),
    }
  },
}

/** Requests per second over DURATION after WARMUP, `connections` x `inflight`. */
async function measure(serverMode, client, connections, inflight) {
  const server = await startServer(serverMode)
  const conns = await Promise.all(Array.from({ length: connections }, () => client.open(server.port)))
  let count = 0
  let running = true
  const onResponse = () => {
    count++
    return running
  }
  for (const c of conns) c.start(onResponse, inflight)
  await sleep(WARMUP)
  const c0 = count
  const t0 = performance.now()
  await sleep(DURATION)
  const rate = ((count - c0) * 1000) / (performance.now() - t0)
  running = false
  for (const c of conns) c.close()
  await server.stop()
  return rate
}

/** Best of RUNS, the two sides of a comparison alternating so that noise hits both alike. */
async function compare(name, a, b, connections, inflight) {
  const best = { candidate: 0, baseline: 0 }
  for (let i = 0; i < RUNS; i++) {
    best.baseline = Math.max(best.baseline, await measure(b.mode, b.client, connections, inflight))
    best.candidate = Math.max(best.candidate, await measure(a.mode, a.client, connections, inflight))
  }
  return { name, connections, inflight, ...best, ratio: best.candidate / best.baseline }
}

// ---------------------------------------------------------------------------------------------
// Idle connections: handshakes done, then nothing; the server's RSS.

async function idleMemory(count) {
  const server = await startServer('stmp-idle')
  const before = await server.rss()
  const handshake = encodeHandshakeRequest({ kind: 'handshake-request', url: '/?stmp_version=3', headers: {} })
  const sockets = []
  const openOne = () => new Promise((resolve, reject) => {
    const s = net.connect({ port: server.port, host: '127.0.0.1' })
    s.on('error', reject)
    s.once('connect', () => s.write(handshake))
    // The answer: LENGTH + status 200 + "OK" (wire notes §8).
    s.once('data', (d) => (d.readUInt16BE(1) === 200 ? resolve(s) : reject(new Error(`handshake answer ${d.toString('hex')}`))))
  })
  for (let i = 0; i < count; i += 250) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(250, count - i) }, openOne))))
  }
  await sleep(500)
  const after = await server.rss()
  for (const s of sockets) s.destroy()
  await server.stop()
  return { connections: sockets.length, rssBefore: before, rss: after, perConnection: (after - before) / sockets.length }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms))
}

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ')
const fmt = (n) => Math.round(n).toLocaleString('en-US')

async function main() {
  const loadBefore = load()
  const results = []
  const floor = { mode: 'floor', client: floorClient }
  const stmpTcp = { mode: 'stmp-tcp', client: stmpClient('tcp') }
  const stmpWs = { mode: 'stmp-ws', client: stmpClient('ws') }
  const wsJson = { mode: 'ws-json', client: wsJsonClient }
  const gates = [
    { what: 'STMP tcp vs length-prefixed tcp floor', c: 1, d: 1, a: stmpTcp, b: floor, target: 0.85 },
    { what: 'STMP tcp vs length-prefixed tcp floor', c: 50, d: 16, a: stmpTcp, b: floor, target: 0.5 },
    { what: 'STMP ws vs ws JSON echo', c: 50, d: 16, a: stmpWs, b: wsJson, target: 1.5 },
  ]
  for (const [i, g] of gates.entries()) {
    if (ONLY && ONLY !== i + 1) continue
    const r = await compare(g.what, g.a, g.b, g.c, g.d)
    results.push({ ...r, target: g.target, pass: r.ratio >= g.target })
    if (process.stderr.isTTY) {
      process.stderr.write(`${r.name}, ${g.c} x ${g.d}: ${fmt(r.candidate)} req/s vs ${fmt(r.baseline)} req/s = ${r.ratio.toFixed(2)}x (target >= ${g.target}x) ${r.ratio >= g.target ? 'PASS' : 'FAIL'}\n`)
    }
  }
  const idle = ONLY ? { connections: 0, rssBefore: 0, rss: 0, perConnection: 0 } : await idleMemory(IDLE)
  const idlePass = idle.rss < 300 * 1024 * 1024
  const loadAfter = load()
  if (JSON_OUT) {
    process.stdout.write(`${JSON.stringify({ load: { before: loadBefore, after: loadAfter }, throughput: results, idle: { ...idle, target: 300 * 1024 * 1024, pass: idlePass } })}\n`)
  } else {
    const mb = (b) => (b / 1024 / 1024).toFixed(1)
    const lines = [
      `bench:rpc  payload ${PAYLOAD.length} B, best of ${RUNS} x ${DURATION / 1000} s (warm-up ${WARMUP / 1000} s), servers in a child process`,
      `load average before: ${loadBefore}   after: ${loadAfter}`,
      '',
      ...results.map((r) => `${r.name.padEnd(40)} ${`${r.connections} x ${r.inflight}`.padStart(7)}  ${fmt(r.candidate).padStart(9)} req/s  baseline ${fmt(r.baseline).padStart(9)} req/s  ratio ${r.ratio.toFixed(2)}  target >= ${r.target}  ${r.pass ? 'PASS' : 'FAIL'}`),
      `${'StmpServer idle tcp connections'.padEnd(40)} ${String(idle.connections).padStart(7)}  RSS ${mb(idle.rss)} MB (${mb(idle.rssBefore)} MB before, ${(idle.perConnection / 1024).toFixed(1)} KiB each)  ratio to 300 MB ${(idle.rss / (300 * 1024 * 1024)).toFixed(2)}  target < 300 MB  ${idlePass ? 'PASS' : 'FAIL'}`,
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
  }
  if (!idlePass || results.some((r) => !r.pass)) process.exitCode = 1
}

if (process.argv[2] === '--server') await runServer(process.argv[3])
else await main()
