#!/usr/bin/env node
/**
 * Checks stmpcat's TCP reassembly against Wireshark's: for every TCP stream in a capture, the
 * bytes each side sent as reassembled by `dist/lib/capture` must equal what
 * `tshark -q -z follow,tcp,raw,N` prints. Not part of CI (it needs tshark and a capture).
 *
 *   npm run build && node scripts/capture-oracle.mjs FILE.pcap[ng] [--verbose]
 *
 * Exit 0 when every stream matches, 1 on a mismatch, 2 when it cannot run.
 */
import { execFileSync } from 'node:child_process'
import { createReadStream, existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))
const distEntry = path.join(here, '..', 'dist', 'lib', 'capture', 'index.js')

const args = process.argv.slice(2)
const file = args.find((a) => !a.startsWith('--'))
const verbose = args.includes('--verbose')
if (file === undefined) {
  console.error('usage: node scripts/capture-oracle.mjs FILE.pcap[ng] [--verbose]')
  process.exit(2)
}
if (!existsSync(distEntry)) {
  console.error(`${distEntry} is missing: run npm run build first`)
  process.exit(2)
}
const { CaptureDecoder } = await import(distEntry)

/** Our side: per connection, the bytes of each direction (gaps left out, as tshark does) and the gaps. */
async function reassemble(capturePath) {
  const connections = []
  const byId = new Map()
  let fatal
  const decoder = new CaptureDecoder((event) => {
    if (event.type === 'tcp-open') {
      const conn = { ...event, clientEndpoint: event.client, serverEndpoint: event.server, client: [], server: [], gaps: 0 }
      byId.set(event.connId, conn)
      connections.push(conn)
    } else if (event.type === 'data') {
      byId.get(event.connId)[event.direction].push(Buffer.from(event.bytes))
    } else if (event.type === 'gap') {
      byId.get(event.connId).gaps += event.missing
    } else if (event.type === 'error' && event.fatal) {
      fatal = event.error
    }
  }, { detectWebSocket: false })
  for await (const chunk of createReadStream(capturePath)) decoder.write(chunk)
  decoder.end()
  if (fatal !== undefined) throw fatal
  return connections.map((c) => ({ ...c, client: Buffer.concat(c.client), server: Buffer.concat(c.server) }))
}

/** tshark's side: stream numbers, then `follow,tcp,raw` for batches of them. */
function tsharkStreams(capturePath) {
  const ids = execFileSync('tshark', ['-r', capturePath, '-T', 'fields', '-e', 'tcp.stream', '-Y', 'tcp'], { encoding: 'utf8', maxBuffer: 1 << 30 })
  const streams = [...new Set(ids.split('\n').filter((l) => l.trim() !== '').map(Number))].sort((a, b) => a - b)
  const out = []
  for (let i = 0; i < streams.length; i += 50) {
    const batch = streams.slice(i, i + 50)
    const zArgs = batch.flatMap((n) => ['-z', `follow,tcp,raw,${n}`])
    const text = execFileSync('tshark', ['-r', capturePath, '-q', ...zArgs], { encoding: 'utf8', maxBuffer: 1 << 30 })
    out.push(...parseFollow(text))
  }
  return out
}

/**
 * `follow,tcp,raw` output: a `Node 0: addr:port` and `Node 1: addr:port` header, then hex lines,
 * those of node 1 indented with a tab.
 */
function parseFollow(text) {
  const streams = []
  let current
  for (const line of text.split('\n')) {
    const filter = /^Filter: tcp\.stream eq (\d+)/.exec(line)
    if (filter) {
      current = { stream: Number(filter[1]), nodes: [], data: [[], []] }
      streams.push(current)
      continue
    }
    if (current === undefined) continue
    const node = /^Node (\d): (.*)$/.exec(line)
    if (node) { current.nodes[Number(node[1])] = normalize(node[2]); continue }
    if (/^=+$/.test(line) || line.trim() === '' || line.startsWith('Follow:')) continue
    const side = line.startsWith('\t') ? 1 : 0
    current.data[side].push(Buffer.from(line.trim(), 'hex'))
  }
  return streams.map((s) => ({ ...s, data: s.data.map((parts) => Buffer.concat(parts)) }))
}

/** `[::1]:80`, `::1:80` and `127.0.0.1:80` to one form. */
function normalize(endpoint) {
  const trimmed = endpoint.trim()
  const bracketed = /^\[(.*)\]:(\d+)$/.exec(trimmed)
  if (bracketed) return `${bracketed[1]}|${bracketed[2]}`
  const at = trimmed.lastIndexOf(':')
  return `${trimmed.slice(0, at)}|${trimmed.slice(at + 1)}`
}

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return n
}

const ours = await reassemble(file)
const theirs = tsharkStreams(file)
const unmatched = [...ours]
let failures = 0
let checkedBytes = 0
for (const stream of theirs) {
  const index = unmatched.findIndex((c) => {
    const a = `${c.clientEndpoint.ip}|${c.clientEndpoint.port}`
    const b = `${c.serverEndpoint.ip}|${c.serverEndpoint.port}`
    return new Set([a, b]).has(stream.nodes[0]) && new Set([a, b]).has(stream.nodes[1])
  })
  if (index < 0) {
    console.log(`stream ${stream.stream} (${stream.nodes.join(' <-> ')}): no connection of ours; ${stream.data[0].length + stream.data[1].length} bytes`)
    if (stream.data[0].length + stream.data[1].length > 0) failures++
    continue
  }
  const conn = unmatched.splice(index, 1)[0]
  const node0IsClient = stream.nodes[0] === `${conn.clientEndpoint.ip}|${conn.clientEndpoint.port}`
  const expected = { client: stream.data[node0IsClient ? 0 : 1], server: stream.data[node0IsClient ? 1 : 0] }
  for (const direction of ['client', 'server']) {
    const mine = conn[direction]
    const want = expected[direction]
    checkedBytes += want.length
    if (mine.equals(want)) {
      if (verbose) console.log(`stream ${stream.stream} ${conn.connection} ${direction}: ${mine.length} bytes match`)
      continue
    }
    failures++
    console.log(`stream ${stream.stream} ${conn.connection} ${direction}: MISMATCH ours ${mine.length} bytes, tshark ${want.length} bytes, first difference at ${firstDifference(mine, want)}${conn.gaps ? ` (we saw ${conn.gaps} missing bytes)` : ''}`)
  }
}
for (const conn of unmatched) {
  const total = conn.client.length + conn.server.length
  console.log(`connection ${conn.connId} ${conn.connection}: no tshark stream; ${total} bytes`)
  if (total > 0) failures++
}
console.log(`${theirs.length} tshark streams, ${ours.length} connections, ${checkedBytes} bytes compared, ${failures} mismatches`)
process.exit(failures === 0 ? 0 : 1)
