#!/usr/bin/env node
/**
 * Regenerates the example inputs in examples/ that the README and `--help` examples use:
 * capture.pcapng, big.pcap, grpc-like.pcap, client.hex and frames.bin, all from stmpcat's own
 * traffic. No root and no tcpdump: each scenario starts `stmpcat serve` and runs the built
 * `stmpcat fetch` / `push` / `connect` through a recording TCP relay on 127.0.0.1, then writes
 * what went through the relay, byte for byte and in order, as a capture with the test-only
 * writer (test/helpers/pcap-writer.ts, run with `node --import tsx`: consistent TCP sequence numbers, Ethernet link layer).
 * The server's port is written as 5001, the port the README examples use.
 *
 *   npm run build && node --import tsx scripts/make-examples.mjs
 */
import { spawn } from 'node:child_process'
import { statSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const outDir = path.join(root, 'examples')
const bin = path.join(root, 'bin/run.js')
const { CaptureWriter, TcpConversation } = await import(path.join(root, 'test/helpers/pcap-writer.ts'))
const SERVER_PORT = 5001

function run(args, stdin, exitCodes = [0]) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1' } })
    let stderr = ''
    child.stderr.on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => (exitCodes.includes(code) ? resolve() : reject(new Error(`stmpcat ${args.join(' ')} exited ${code}: ${stderr}`))))
    child.stdin.end(stdin ?? '')
  })
}

async function startServe(args) {
  const child = spawn(process.execPath, [bin, 'serve', 'tcp://127.0.0.1:0', ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1' } })
  const port = await new Promise((resolve, reject) => {
    let err = ''
    child.stderr.on('data', (d) => {
      err += d
      const m = /listening on tcp:\/\/127\.0\.0\.1:(\d+)/.exec(err)
      if (m) resolve(Number(m[1]))
    })
    child.on('close', (code) => reject(new Error(`serve exited ${code}: ${err}`)))
  })
  return { port, stop: () => new Promise((resolve) => { child.once('close', resolve); child.kill('SIGTERM') }) }
}

/** A TCP relay to `port` that records every chunk of every connection, in order. */
async function startRelay(port) {
  const connections = []
  const server = net.createServer((client) => {
    const conn = { clientPort: client.remotePort, events: [] }
    connections.push(conn)
    const upstream = net.connect({ host: '127.0.0.1', port })
    client.on('data', (d) => { conn.events.push({ from: 'client', data: Buffer.from(d) }); upstream.write(d) })
    upstream.on('data', (d) => { conn.events.push({ from: 'server', data: Buffer.from(d) }); client.write(d) })
    client.on('end', () => { conn.events.push({ from: 'client', fin: true }); upstream.end() })
    upstream.on('end', () => { conn.events.push({ from: 'server', fin: true }); client.end() })
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `tcp://127.0.0.1:${server.address().port}`, connections, close: () => new Promise((resolve) => server.close(resolve)) }
}

/** The recorded connections as one capture file. */
function writeCaptureFile(file, format, connections) {
  const writer = new CaptureWriter({ format })
  const parts = [writer.header()]
  let start = 1_767_258_000_000_000_000n // 2026-01-01T09:00:00Z
  for (const conn of connections) {
    const tcp = new TcpConversation({ client: { ip: '127.0.0.1', port: conn.clientPort }, server: { ip: '127.0.0.1', port: SERVER_PORT }, startTime: start, stepNs: 200_000n })
    const packets = [...tcp.handshake()]
    for (const e of conn.events) packets.push(...(e.fin ? tcp.fin(e.from) : tcp.send(e.from, e.data)))
    for (const p of packets) parts.push(writer.packet(p.time, p.ip))
    start = tcp.time + 5_000_000n
  }
  writeFileSync(path.join(outDir, file), Buffer.concat(parts))
}

/** Runs the clients against a fresh serve through the relay; returns the recorded connections. */
async function scenario(serveArgs, clients) {
  const serve = await startServe(serveArgs)
  const relay = await startRelay(serve.port)
  for (const client of clients) await client(relay.url)
  // Let the last FINs through the relay.
  await new Promise((resolve) => setTimeout(resolve, 300))
  await relay.close()
  await serve.stop()
  return relay.connections
}

/** One side's bytes of a connection. */
const bytesOf = (conn, from) => Buffer.concat(conn.events.filter((e) => e.from === from && e.data).map((e) => e.data))

/** Skips the first LENGTH-prefixed frame (the handshake) of a stream. */
function afterFirstFrame(stream) {
  let length = 0
  let at = 0
  for (let shift = 0; ; shift += 7) {
    const b = stream[at++]
    length += (b & 0x7f) * 2 ** shift
    if ((b & 0x80) === 0) break
  }
  return stream.subarray(at + length)
}

function hexLines(bytes) {
  const lines = []
  for (let at = 0; at < bytes.length; at += 16) lines.push([...bytes.subarray(at, at + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' '))
  return `${lines.join('\n')}\n`
}

const routes = path.join(root, 'examples/routes.yaml')
const proto = path.join(root, 'examples/echo.proto')

const mixed = await scenario(['--routes', routes], [
  (url) => run(['fetch', url, 'user.get', '{"id":7}']),
  (url) => run(['fetch', url, 'health.db', '{}', '--server-latency']),
  (url) => run(['push', url, 'chat.say', '{"room":"lobby","text":"hello"}']),
  (url) => run(['connect', url], '{"action":"ticker.subscribe","payload":{"symbol":"ACME"}}\n{"action":"user.delete","payload":{"id":7}}\n', [6]),
])
writeCaptureFile('capture.pcapng', 'pcapng', mixed)
// The client side of the --server-latency fetch, handshake first; the server side of the
// connect session after its handshake answer (responses, pushes, Close).
writeFileSync(path.join(outDir, 'client.hex'), hexLines(bytesOf(mixed[1], 'client')))
writeFileSync(path.join(outDir, 'frames.bin'), afterFirstFrame(bytesOf(mixed[3], 'server')))

const blob = JSON.stringify({ blob: Array.from({ length: 5000 }, (_, i) => `item-${i}-${(i * 7919) % 10007}`).join(',') })
const big = await scenario([], [
  (url) => run(['fetch', url, 'bulk.upload', '-d', '@-'], blob),
  (url) => run(['fetch', url, 'small.after', '{"n":1}']),
])
writeCaptureFile('big.pcap', 'pcap', big)

const grpcLike = await scenario(['--proto', proto], [
  (url) => run(['fetch', url, 'echo.v1.Echo.Say', '{"text":"hi","id":1,"tags":["a","b"]}', '-t', 'protobuf', '--proto', proto]),
  (url) => run(['fetch', url, 'echo.v1.Echo.Say', '{"text":"again","id":2}', '-t', 'protobuf', '--proto', proto]),
])
writeCaptureFile('grpc-like.pcap', 'pcap', grpcLike)

for (const file of ['capture.pcapng', 'big.pcap', 'grpc-like.pcap', 'client.hex', 'frames.bin']) {
  console.log(`examples/${file}: ${statSync(path.join(outDir, file)).size} bytes`)
}
