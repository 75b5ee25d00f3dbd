#!/usr/bin/env node
/**
 * Regenerates the real captures in test/fixtures/captures/: real stmpcat traffic on 127.0.0.1
 * (serve + fetch + push + connect, and the library's server and client for permessage-deflate),
 * captured by tcpdump on the loopback interface, saved as pcap (tcpdump -w) and pcapng
 * (editcap -F pcapng). Beside each capture, NAME.expected.json lists every request, response and
 * push the server saw (from `serve --log`, or the library server's own record), which the tests
 * compare with what `decode` finds in the capture.
 *
 * Needs root (tcpdump on lo), tcpdump and editcap (apt-get install -y tcpdump tshark), and a
 * build (npm run build):
 *
 *   sudo node scripts/make-captures.mjs            # all scenarios
 *   sudo node scripts/make-captures.mjs tcp        # one
 */
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const outDir = path.join(root, 'test/fixtures/captures')
const bin = path.join(root, 'bin/run.js')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

if (process.getuid?.() !== 0) {
  console.error('make-captures: needs root for tcpdump on lo (run with sudo)')
  process.exit(2)
}
for (const tool of ['tcpdump', 'editcap']) {
  try {
    execFileSync('which', [tool], { stdio: 'ignore' })
  } catch {
    console.error(`make-captures: ${tool} is missing (apt-get install -y tcpdump tshark)`)
    process.exit(2)
  }
}

/** Payloads small enough are kept as values; larger ones as the SHA-256 of their JSON text. */
function payloadEntry(value) {
  const text = JSON.stringify(value)
  if (text === undefined) return {}
  return text.length <= 512 ? { payload: value } : { payloadSha256: createHash('sha256').update(text).digest('hex'), payloadLength: text.length }
}

function run(args, stdin) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1' } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`stmpcat ${args.join(' ')} exited ${code}: ${stderr}`))))
    child.stdin.end(stdin ?? '')
  })
}

/** `stmpcat serve URLS --log`; resolves with the bound URLs once it listens. */
async function startServe(urls) {
  const child = spawn(process.execPath, [bin, 'serve', ...urls, '--log'], { cwd: root, env: { ...process.env, NO_COLOR: '1' } })
  let log = ''
  let err = ''
  child.stdout.on('data', (d) => { log += d })
  const bound = await new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d
      const found = [...err.matchAll(/listening on (\S+)/g)].map((m) => m[1])
      if (found.length === urls.length) resolve(found)
    })
    child.on('close', (code) => reject(new Error(`serve exited ${code}: ${err}`)))
  })
  return {
    urls: bound,
    async stop() {
      child.kill('SIGTERM')
      await new Promise((resolve) => child.on('close', resolve))
      return log
    },
  }
}

async function startTcpdump(file, ports) {
  const filter = ports.map((p) => `tcp port ${p}`).join(' or ')
  const child = spawn('tcpdump', ['-i', 'lo', '--immediate-mode', '-U', '-s', '0', '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] })
  await new Promise((resolve, reject) => {
    let err = ''
    child.stderr.on('data', (d) => {
      err += d
      if (err.includes('listening on')) resolve()
    })
    child.on('close', (code) => reject(new Error(`tcpdump exited ${code}: ${err}`)))
  })
  await sleep(300)
  return async () => {
    // Let the last packets reach tcpdump before it stops (a loaded machine is slow to deliver).
    await sleep(1500)
    child.kill('SIGINT')
    await new Promise((resolve) => child.on('close', resolve))
  }
}

let decodeCaptureFn
function decodeOpens(pcap) {
  return decodeCaptureFn(readFileSync(pcap)).filter((e) => e.type === 'tcp-open').map((e) => e.connection)
}

const portOf = (url) => Number(new URL(url).port)

/** The serve --log NDJSON as the expected list: requests and pushes in, responses out, per connection. */
function expectedFromLog(log, serverPortFor, fragmented = {}) {
  const remotes = new Map()
  const exchanges = []
  const fragments = new Map()
  for (const line of log.split('\n').filter(Boolean)) {
    const e = JSON.parse(line)
    if (e.event === 'open') remotes.set(e.connection, { remote: e.remote, transport: e.transport, url: e.url })
    if (e.event !== 'frame' || !['request', 'response', 'push'].includes(e.kind)) continue
    const conn = remotes.get(e.connection)
    // serve --log prints each fragment of a fragmented message (wire notes §7) with its size
    // only: count them, and take the message from what this script sent (`fragmented`).
    const key = `${e.connection} ${e.direction} ${e.kind} ${e.id}`
    let frames
    if (e.follow !== undefined || e.fin !== undefined) {
      fragments.set(key, (fragments.get(key) ?? 0) + 1)
      if (e.fin) continue
      frames = fragments.get(key)
      fragments.delete(key)
      Object.assign(e, fragmented[e.kind])
    }
    // A large outgoing message is logged whole but without its payload: take it from what was sent.
    if (e.payload === undefined && e.message === undefined && fragmented[e.kind] !== undefined && e.size === JSON.stringify(fragmented[e.kind].payload).length) {
      Object.assign(e, fragmented[e.kind])
    }
    const entry = {
      connection: `${conn.remote} -> 127.0.0.1:${serverPortFor(conn.transport)}`,
      direction: e.direction === 'in' ? 'client' : 'server',
      kind: e.kind,
      id: e.id,
    }
    if (e.kind === 'response') entry.status = e.status
    else entry.action = e.action
    Object.assign(entry, payloadEntry(e.payload))
    if (frames !== undefined) entry.fragments = frames
    exchanges.push(entry)
  }
  return exchanges
}

function save(name, pcap, meta, exchanges, connections) {
  // Every connection the server saw must be in the capture, else the capture is incomplete.
  const captured = new Set(exchanges.map((x) => x.connection))
  const opened = decodeOpens(pcap)
  for (const connection of captured) {
    if (!opened.includes(connection)) throw new Error(`${name}: ${connection} is missing from the capture; run again`)
  }
  if (connections !== undefined && opened.length !== connections) throw new Error(`${name}: ${opened.length} connections captured, ${connections} made`)
  const pcapng = path.join(outDir, `${name}.pcapng`)
  execFileSync('editcap', ['-F', 'pcapng', pcap, pcapng])
  const sidecar = { description: meta.description, transport: meta.transport, ports: meta.ports, exchanges }
  writeFileSync(path.join(outDir, `${name}.expected.json`), `${JSON.stringify(sidecar, null, 2)}\n`)
  for (const file of [pcap, pcapng]) {
    const size = statSync(file).size
    if (size > 1024 * 1024) throw new Error(`${file} is ${size} bytes, over 1 MB`)
    console.log(`${path.relative(root, file)}: ${size} bytes`)
  }
  console.log(`  ${exchanges.length} requests/responses/pushes`)
}

/** serve + fetch + push + connect on one listener. */
async function cliScenario(name, listenUrl, description, clients, fragmented) {
  const serve = await startServe([listenUrl])
  const url = serve.urls[0]
  const pcap = path.join(outDir, `${name}.pcap`)
  const stopDump = await startTcpdump(pcap, [portOf(url)])
  for (const client of clients) await client(url)
  await stopDump()
  const log = await serve.stop()
  const transport = url.startsWith('ws') ? 'websocket' : 'stream'
  const opens = log.split('\n').filter((l) => l.includes('"event":"open"')).length
  save(name, pcap, { description, transport, ports: [portOf(url)] }, expectedFromLog(log, () => portOf(url), fragmented), opens)
}

const bigPayload = JSON.stringify({ blob: Array.from({ length: 13000 }, (_, i) => `item-${i}-${(i * 7919) % 10007}`).join(',') })

const scenarios = {
  // Each scenario: its own serve, its own tcpdump, NAME.pcap + NAME.pcapng + NAME.expected.json.
  tcp: () => cliScenario('tcp', 'tcp://127.0.0.1:0', 'serve (echo) over TCP: fetch, fetch with server latency, fetch msgpack, push, connect pipe with three requests', [
    (url) => run(['fetch', url, 'user.get', '{"id":7}']),
    (url) => run(['fetch', url, 'user.list', '{"page":2,"tags":["a","b"]}', '--server-latency']),
    (url) => run(['fetch', url, 'blob.put', '{"bin":[1,2,3],"ok":true}', '-t', 'msgpack']),
    (url) => run(['push', url, 'news.post', '{"headline":"hello"}']),
    (url) => run(['connect', url], '{"action":"a.one","payload":{"n":1}}\n{"action":"a.two","payload":[1,2,3]}\n{"action":"a.three","payload":"text"}\n'),
  ]),
  'ws-binary': () => cliScenario('ws-binary', 'ws://127.0.0.1:0/rpc', 'serve (echo) over WebSocket, binary messages: fetch, push, connect pipe', [
    (url) => run(['fetch', url, 'user.get', '{"id":8}', '--server-latency']),
    (url) => run(['push', url, 'news.post', '{"headline":"ws"}']),
    (url) => run(['connect', url], '{"action":"b.one","payload":{"n":1}}\n{"action":"b.two","payload":null}\n'),
  ]),
  'ws-text': () => cliScenario('ws-text', 'ws://127.0.0.1:0/rpc', 'serve (echo) over WebSocket, text messages (--format text): fetch, push, connect pipe', [
    (url) => run(['fetch', url, 'user.get', '{"id":9}', '--format', 'text']),
    (url) => run(['push', url, 'news.post', '{"headline":"text"}', '--format', 'text']),
    (url) => run(['connect', url, '--format', 'text'], '{"action":"c.one","payload":{"n":1}}\n{"action":"c.two","payload":"two"}\n'),
  ]),
  fragmented: () => cliScenario('fragmented', 'tcp://127.0.0.1:0', `a ${bigPayload.length}-byte JSON request over TCP, fragmented by the client (64 KiB frames) and echoed back fragmented`, [
    (url) => run(['fetch', url, 'bulk.upload', '-d', '@-'], bigPayload),
    (url) => run(['fetch', url, 'small.after', '{"n":1}']),
  ], { request: { action: 'bulk.upload', payload: JSON.parse(bigPayload) }, response: { status: 200, payload: JSON.parse(bigPayload) } }),
  'ws-deflate': deflateScenario,
}

/** permessage-deflate on both ends (the library: serve and connect have no flag for it). */
async function deflateScenario() {
  const dist = (p) => import(path.join(root, 'dist/lib', p))
  const { StmpServer, connect } = await dist('session/index.js')
  const { parseAddress } = await dist('transport/address.js')
  const exchanges = []
  const server = new StmpServer({
    perMessageDeflate: true,
    handler: (request) => ({ status: 200, payload: request.payload }),
  })
  const listener = await server.listen(parseAddress('ws://127.0.0.1:0/rpc', { listening: true }))
  const port = listener.address.port
  const pcap = path.join(outDir, 'ws-deflate.pcap')
  const stopDump = await startTcpdump(pcap, [port])
  const url = `ws://127.0.0.1:${port}/rpc`
  for (const format of ['binary', 'text']) {
    const session = await connect(url, { perMessageDeflate: true, format })
    for (const [action, value] of [['z.small', { n: format }], ['z.big', { text: 'compress me '.repeat(2000) }]]) {
      const body = Buffer.from(JSON.stringify(value))
      const response = await session.request(action, body)
      exchanges.push({ format, action, id: response.id, status: response.status, value })
    }
    await session.close()
  }
  await stopDump()
  await server.close()
  // The client's ports are in the capture: read them back with the capture library.
  const opens = decodeOpens(pcap)
  const list = []
  exchanges.forEach((x, i) => {
    const connection = opens[Math.floor(i / 2)]
    list.push({ connection, direction: 'client', kind: 'request', id: x.id, action: x.action, ...payloadEntry(x.value) })
    list.push({ connection, direction: 'server', kind: 'response', id: x.id, status: x.status, ...payloadEntry(x.value) })
  })
  save('ws-deflate', pcap, { description: 'library StmpServer and connect() with permessage-deflate over WebSocket, one binary and one text session', transport: 'websocket', ports: [port] }, list, 2)
}

decodeCaptureFn = (await import(path.join(root, 'dist/lib/capture/decoder.js'))).decodeCapture
mkdirSync(outDir, { recursive: true })
const wanted = process.argv.slice(2)
for (const name of wanted.length > 0 ? wanted : Object.keys(scenarios)) {
  if (!(name in scenarios)) throw new Error(`unknown scenario ${name}`)
  rmSync(path.join(outDir, `${name}.pcap`), { force: true })
  await scenarios[name]()
}
