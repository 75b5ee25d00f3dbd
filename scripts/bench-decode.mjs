#!/usr/bin/env node
/**
 * `stmpcat decode FILE.pcap --json` throughput and memory on a large capture.
 *
 * Generates (with the capture writer, streamed to a temp file) a pcap of at least 200 MB of small
 * STMP frames over TCP on many connections, then runs the built CLI as a child process:
 *
 *   node bin/run.js decode FILE --json > /dev/null
 *
 * under /usr/bin/time -v, and reports MB/s of capture and the peak RSS ("Maximum resident set
 * size"). Beside it, measured in the same run: `cat FILE > /dev/null`, the capture library alone
 * (pcap -> TCP reassembly, no STMP, no output), and decode on one thread (`--threads 1`; the
 * default for a file this large decodes on one thread per core, up to 4), and the ratio of decode
 * to each.
 *
 *   npm run build && npm run bench:decode [-- --mb 200 --connections 200 --runs 3 --keep]
 *
 * Each command runs --runs times, alternating, and its fastest run is reported (other processes on
 * a shared machine only ever slow a run down), with the highest peak RSS of its runs.
 *
 * Targets: at least 50 MB/s, peak RSS under 200 MB. Exit 1 when a target is missed.
 *
 * `--against DIR` (another checkout, built): also times this build's one-thread pipeline (capture
 * reader, STMP decoder, NDJSON writer; no CLI, no output) beside DIR's on the same capture, in one
 * process, taking turns 512 KiB chunk by chunk so that the machine's speed, which drifts by tens of
 * percent from one second to the next here, weighs on both alike. It prints the ratio of their
 * times: how much a change sped up or slowed down the decoder, which whole runs are too noisy to
 * show.
 */
import { execFileSync, spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dist = (p) => path.join(root, 'dist/lib', p)
if (!existsSync(dist('capture/decoder.js'))) {
  console.error('bench-decode: run npm run build first')
  process.exit(2)
}
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? fallback : Number(process.argv[i + 1])
}
const targetMb = arg('mb', 200)
const connections = arg('connections', 200)
const runs = arg('runs', 3)
const keep = process.argv.includes('--keep')
const againstAt = process.argv.indexOf('--against')
const against = againstAt < 0 ? undefined : path.resolve(process.argv[againstAt + 1])
if (against !== undefined && !existsSync(path.join(against, 'dist/lib/capture/decoder.js'))) {
  console.error(`bench-decode: ${against} has no dist/ (build it first)`)
  process.exit(2)
}
const TARGET_MBPS = 50
const TARGET_RSS_MB = 200

// The test-only pcap writer (TypeScript: npm runs this script with --import tsx).
const { CaptureWriter, TcpConversation } = await import(path.join(root, 'test/helpers/pcap-writer.ts'))
const { encodeFrame, encodeHandshakeRequest, encodeHandshakeResponse } = await import(dist('codec/index.js'))

const dir = mkdtempSync(path.join(tmpdir(), 'stmpcat-bench-decode-'))
const file = path.join(dir, 'bench.pcap')

/** Segments of whole frames, ~1400 bytes each: 20-odd small requests or responses with latency. */
function segmentPayloads(connIndex) {
  const latency = { format: 'binary', framing: 'stream', serverLatency: true }
  const requests = []
  const responses = []
  for (let id = 1; id <= 24; id++) {
    const payload = Buffer.from(JSON.stringify({ id: connIndex * 100 + id, user: `user-${id}`, ok: true }))
    requests.push(encodeFrame({ kind: 'request', id, action: id % 3 === 0 ? 'user.list' : 'user.get', payload, follow: false, fin: false }, latency))
    responses.push(encodeFrame({ kind: 'response', id, status: 200, latency: id % 7, payload, follow: false, fin: false }, latency))
  }
  return { client: Buffer.concat(requests), server: Buffer.concat(responses) }
}

async function generate() {
  const out = createWriteStream(file, { highWaterMark: 4 * 1024 * 1024 })
  const writer = new CaptureWriter({ format: 'pcap', linkType: 1 })
  let pending = [writer.header()]
  let pendingBytes = 0
  let written = 0
  const flush = async () => {
    const chunk = Buffer.concat(pending)
    pending = []
    pendingBytes = 0
    written += chunk.length
    if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve))
  }
  const put = async (packet) => {
    const record = writer.packet(packet.time, packet.ip)
    pending.push(record)
    pendingBytes += record.length
    if (pendingBytes >= 1024 * 1024) await flush()
  }
  const convs = Array.from({ length: connections }, (_, i) => {
    const conv = new TcpConversation({
      client: { ip: `10.0.${(i >> 8) & 255}.${(i & 255) + 1}`, port: 40000 + i },
      server: { ip: '10.9.0.1', port: 5000 },
      startTime: 1_795_316_645_000_000_000n + BigInt(i) * 1000n,
      stepNs: 20_000n,
    })
    return { conv, payloads: segmentPayloads(i) }
  })
  for (const { conv } of convs) {
    for (const p of [...conv.handshake(), ...conv.send('client', encodeHandshakeRequest({ url: '/?stmp_version=3&stmp_server_latency=1', headers: {} })), ...conv.send('server', encodeHandshakeResponse({ status: 200, message: 'OK' }))]) await put(p)
  }
  let frames = 0
  const target = targetMb * 1e6
  while (written + pendingBytes < target) {
    for (const { conv, payloads } of convs) {
      for (const p of conv.send('client', payloads.client, 1 << 16)) await put(p)
      for (const p of conv.send('server', payloads.server, 1 << 16)) await put(p)
      frames += 48
    }
  }
  for (const { conv } of convs) for (const p of conv.close()) await put(p)
  await flush()
  await new Promise((resolve) => out.end(resolve))
  return frames
}

/** One build's one-thread pipeline (CaptureDecoder -> CaptureStmpDecoder -> CaptureNdjson, output counted and dropped). */
async function pipeline(dir) {
  const lib = (p) => import(path.join(dir, 'dist/lib', p))
  const { CaptureDecoder } = await lib('capture/decoder.js')
  const { CaptureStmpDecoder } = await lib('capture/stmp.js')
  const { CaptureNdjson } = await lib('render/capture-ndjson.js')
  let bytes = 0
  const out = new CaptureNdjson((chunk) => { bytes += chunk.length })
  // A build from before heads (CaptureNdjson#head) takes every frame as an object.
  const stmp = typeof out.head === 'function'
    ? new CaptureStmpDecoder((e) => out.event(e), {}, (e) => out.head(e))
    : new CaptureStmpDecoder((e) => out.event(e), {})
  const decoder = new CaptureDecoder((e) => stmp.event(e), {})
  return { write: (chunk) => decoder.write(chunk), end: () => { decoder.end(); stmp.end(); out.flush(); return bytes } }
}

/** Times the builds in `dirs` on the capture, taking turns chunk by chunk; prints each total and the ratios to the first. */
async function interleaved(dirs) {
  const { readFileSync } = await import('node:fs')
  const data = readFileSync(file)
  const CHUNK = 512 * 1024
  for (let pass = 1; pass <= 2; pass++) {
    const runs = await Promise.all(dirs.map(pipeline))
    const ns = dirs.map(() => 0n)
    for (let at = 0, i = 0; at < data.length; at += CHUNK, i++) {
      const chunk = data.subarray(at, at + CHUNK)
      for (let k = 0; k < runs.length; k++) {
        const j = (i + k) % runs.length
        const t = process.hrtime.bigint()
        runs[j].write(chunk)
        ns[j] += process.hrtime.bigint() - t
      }
    }
    const bytes = runs.map((r) => r.end())
    const same = bytes.every((b) => b === bytes[0]) ? 'same output size' : `OUTPUT SIZES DIFFER: ${bytes.join(' vs ')}`
    console.log(`interleaved pass ${pass}: ${dirs.map((d, j) => `${path.basename(d)} ${(Number(ns[j]) / 1e6).toFixed(0)} ms`).join(', ')}; this build / ${path.basename(dirs[1])}: ${(Number(ns[0]) / Number(ns[1])).toFixed(3)} (${same})`)
  }
}

/** Runs a command under /usr/bin/time -v with stdout to /dev/null; wall seconds and peak RSS in MB. */
function timed(command, args) {
  return new Promise((resolve, reject) => {
    const devnull = openSync('/dev/null', 'w')
    const start = process.hrtime.bigint()
    const child = spawn('/usr/bin/time', ['-v', command, ...args], { cwd: root, stdio: ['ignore', devnull, 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)
      const exit = /Exit status: (\d+)/.exec(stderr)
      const user = /User time \(seconds\): ([\d.]+)/.exec(stderr)
      const system = /System time \(seconds\): ([\d.]+)/.exec(stderr)
      const cpu = (user ? Number(user[1]) : NaN) + (system ? Number(system[1]) : NaN)
      resolve({ seconds, cpu, rssMb: rss ? Number(rss[1]) / 1024 : NaN, code: exit ? Number(exit[1]) : code, stderr })
    })
  })
}

const load = () => loadavg().map((n) => n.toFixed(2)).join(' ')
const mb = (bytes) => (bytes / 1e6).toFixed(1)

console.log(`bench-decode: node ${process.version}, load average ${load()}`)
let t0 = process.hrtime.bigint()
const frames = await generate()
const size = statSync(file).size
console.log(`generated ${file}: ${mb(size)} MB, ${connections} connections, ${frames} STMP frames (+ handshakes) in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`)

// Warm the page cache so every run reads from memory alike.
execFileSync('cat', [file], { stdio: ['ignore', 'ignore', 'ignore'] })

/** The fastest of `runs` runs (the commands alternate), with the highest peak RSS seen. */
const best = (a, b) => ({ ...(a.seconds <= b.seconds ? a : b), rssMb: Math.max(a.rssMb, b.rssMb), code: Math.max(a.code, b.code) })
let cat, reader, serial, decode
const readerScript = `
  import { createReadStream } from 'node:fs'
  const { CaptureDecoder } = await import(${JSON.stringify(dist('capture/decoder.js'))})
  let data = 0
  const d = new CaptureDecoder((e) => { if (e.type === 'data') data += e.bytes.length }, { detectWebSocket: false })
  for await (const chunk of createReadStream(process.argv[1], { highWaterMark: 1 << 20 })) d.write(chunk)
  d.end()
  process.stdout.write(String(data))
`
for (let i = 0; i < runs; i++) {
  const c = await timed('cat', [file])
  const r = await timed(process.execPath, ['--input-type=module', '-e', readerScript, file])
  const s1 = await timed(process.execPath, [path.join(root, 'bin/run.js'), 'decode', file, '--json', '--threads', '1'])
  const d = await timed(process.execPath, [path.join(root, 'bin/run.js'), 'decode', file, '--json'])
  console.log(`run ${i + 1}: decode --threads 1 ${s1.seconds.toFixed(2)} s, decode ${d.seconds.toFixed(2)} s (load ${load()})`)
  cat = cat === undefined ? c : best(cat, c)
  reader = reader === undefined ? r : best(reader, r)
  serial = serial === undefined ? s1 : best(serial, s1)
  decode = decode === undefined ? d : best(decode, d)
}
if (decode.code !== 0) {
  console.error(`decode exited ${decode.code}:\n${decode.stderr}`)
  process.exit(1)
}
const summary = decode.stderr.split('\n').find((l) => l.startsWith('stmpcat decode:'))
const rate = (r) => size / 1e6 / r.seconds
// Wall-clock MB/s is what the targets are about; MB per CPU second (user + sys) shows what the
// code does when other processes are taking the cores.
const row = (name, r) => console.log(`${name.padEnd(44)} ${r.seconds.toFixed(2).padStart(7)} s ${rate(r).toFixed(1).padStart(8)} MB/s  (cpu ${r.cpu.toFixed(2)} s, ${(size / 1e6 / Math.max(r.cpu, 0.01)).toFixed(1)} MB/cpu-s)  peak RSS ${r.rssMb.toFixed(1).padStart(6)} MB`)
row('cat FILE > /dev/null (baseline)', cat)
row('capture reader only (pcap+TCP, no STMP)', reader)
row('stmpcat decode FILE --json --threads 1', serial)
row('stmpcat decode FILE --json > /dev/null', decode)
console.log(`  ${summary}`)
console.log(`decode/cat throughput: ${(rate(decode) / rate(cat)).toFixed(3)}; decode/reader: ${(rate(decode) / rate(reader)).toFixed(3)}; default threads/one thread: ${(rate(decode) / rate(serial)).toFixed(2)}; ${(frames / decode.seconds / 1000).toFixed(0)}k frames/s`)
if (against !== undefined) await interleaved([root, against])
const ok = rate(decode) >= TARGET_MBPS && decode.rssMb < TARGET_RSS_MB
console.log(`targets: >= ${TARGET_MBPS} MB/s ${rate(decode) >= TARGET_MBPS ? 'met' : 'MISSED'}, peak RSS < ${TARGET_RSS_MB} MB ${decode.rssMb < TARGET_RSS_MB ? 'met' : 'MISSED'}; load average now ${load()}`)
if (!keep) rmSync(dir, { recursive: true, force: true })
else console.log(`kept ${file}`)
process.exit(ok ? 0 : 1)
