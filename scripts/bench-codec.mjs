#!/usr/bin/env node
/**
 * Codec benchmark (`npm run bench:codec`; uses `dist/`, so build first). One core, no I/O.
 *
 * 1. decode: a stream of ~60-byte Request frames fed to StreamDecoder in 64 KiB chunks (as a
 *    socket delivers them; frames span chunk boundaries). Target >= 2,000,000 frames/s.
 * 2. encode: encodeFrame of the same Request frames. Target >= 2,000,000 frames/s.
 * 3. decode of Push frames with 64 KiB payloads, fed in 1 MiB chunks (payloads are views into
 *    the chunk; only the frames that span two chunks are copied) and in 64 KiB chunks (every
 *    frame spans two chunks and is copied once). Target >= 1 GB/s of input.
 *
 * Beside each figure, a floor measured in the same run: Buffer.copy of the same bytes in the
 * same pieces (the 64 KiB / 1 MiB input chunks for decoding, one copy per ~60-byte frame for
 * encoding), and how many times that copy's time the codec takes. Each figure is the median
 * of --runs timed runs after --warmup untimed ones.
 *
 * Usage: node scripts/bench-codec.mjs [--runs 9] [--warmup 3] [--json]
 */
import { cpus, loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { StreamDecoder, encodeFrame } from '../dist/lib/codec/index.js'

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const RUNS = arg('runs', 9)
const WARMUP = arg('warmup', 3)
const JSON_OUT = process.argv.includes('--json')

const KiB = 1024
const MiB = 1024 * KiB
const OPTIONS = { framing: 'stream', format: 'binary', serverLatency: false }

function median(values) {
  const s = [...values].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Median seconds of `fn` over RUNS runs after WARMUP runs. */
function time(fn) {
  for (let i = 0; i < WARMUP; i++) fn()
  const times = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now()
    fn()
    times.push((performance.now() - t0) / 1000)
  }
  return median(times)
}

function chunked(stream, size) {
  const out = []
  for (let i = 0; i < stream.length; i += size) out.push(stream.subarray(i, Math.min(i + size, stream.length)))
  return out
}

/** Decodes all chunks; returns the frames seen (checked against the expected count). */
function decodeAll(chunks) {
  let frames = 0
  const decoder = new StreamDecoder(() => { frames++ }, (err) => { throw err })
  for (const chunk of chunks) decoder.write(chunk)
  decoder.end()
  return frames
}

/** The floor: Buffer.copy of the same chunks into one destination. */
function copyAll(chunks, dest) {
  let pos = 0
  for (const chunk of chunks) {
    if (pos + chunk.length > dest.length) pos = 0
    pos += chunk.copy(dest, pos)
  }
  return pos
}

const fmt = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const results = []

/** `target` null: a figure shown for context, with no target of its own. */
function report(name, value, unit, target, seconds, floorSeconds, floorBytes, note) {
  const ratio = seconds / floorSeconds
  const pass = target === null || value >= target
  results.push({ name, value, unit, target, pass, seconds, copyBytesPerSecond: floorBytes / floorSeconds, timesCopy: ratio, note })
  if (JSON_OUT) return
  const v = unit === 'GB/s' ? fmt(value, 2) : fmt(value)
  const t = target === null ? 'no target' : `target >= ${unit === 'GB/s' ? fmt(target, 1) : fmt(target)} ${pass ? 'PASS' : 'MISS'}`
  console.log(`${name.padEnd(40)} ${v.padStart(12)} ${unit.padEnd(8)} ${t}`)
  console.log(`${''.padEnd(40)} Buffer.copy floor ${fmt(floorBytes / floorSeconds / 1e9, 2)} GB/s; codec takes ${fmt(ratio, 2)}x the copy's time${note ? `; ${note}` : ''}`)
}

// ---------------------------------------------------------------------------------------------
// 1 + 2: ~60-byte Requests

const PAYLOAD = Buffer.from('{"room":"lobby","text":"hello there, all fine"}') // 46 bytes: 60-byte frames
const requests = Array.from({ length: 1 << 16 }, (_, i) => ({
  kind: 'request', id: (i % 65535) + 1, action: 'chat.say', payload: PAYLOAD, follow: false, fin: false,
}))
const requestBytes = encodeFrame(requests[0], OPTIONS).length
/** ~16 MiB of frames: large enough that a run takes tens of milliseconds. */
const REPEAT = Math.ceil((16 * MiB) / (requests.length * requestBytes))
const requestStream = Buffer.concat(Array.from({ length: REPEAT }, () => Buffer.concat(requests.map((f) => encodeFrame(f, OPTIONS)))))
const requestFrames = requests.length * REPEAT
const requestChunks = chunked(requestStream, 64 * KiB)
if (decodeAll(requestChunks) !== requestFrames) throw new Error('decode benchmark: wrong frame count')

const dest = Buffer.allocUnsafe(4 * MiB)

const header = {
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  loadavg: loadavg().map((l) => l.toFixed(2)).join(' '),
  runs: RUNS,
  warmup: WARMUP,
}
if (!JSON_OUT) {
  console.log(`bench:codec  node ${header.node}  ${header.cpu}  load average ${header.loadavg}  median of ${RUNS} runs after ${WARMUP} warm-up`)
}

{
  const s = time(() => decodeAll(requestChunks))
  const floor = time(() => copyAll(requestChunks, dest))
  report(`decode ${requestBytes}-byte Requests, 64 KiB chunks`, requestFrames / s, 'frames/s', 2_000_000, s, floor, requestStream.length,
    `${fmt(requestStream.length / s / 1e9, 2)} GB/s of input`)
}

{
  const n = requests.length
  let sink = 0
  const s = time(() => {
    for (let i = 0; i < n; i++) sink += encodeFrame(requests[i], OPTIONS).length
  })
  // The floor: one Buffer.copy per frame of an already-encoded frame's bytes.
  const encoded = requests.map((f) => encodeFrame(f, OPTIONS))
  const floor = time(() => copyAll(encoded, dest))
  if (sink === 0) throw new Error('encode benchmark: nothing encoded')
  report(`encode ${requestBytes}-byte Requests`, n / s, 'frames/s', 2_000_000, s, floor, n * requestBytes)
}

// ---------------------------------------------------------------------------------------------
// 3: 64 KiB Pushes

const BIG = Buffer.alloc(64 * KiB, 0x61)
const push = encodeFrame({ kind: 'push', id: 7, action: 'file.chunk', payload: BIG, follow: false, fin: false }, OPTIONS)
const PUSHES = Math.ceil((64 * MiB) / push.length)
const pushStream = Buffer.concat(Array.from({ length: PUSHES }, () => push))

/** The floor when every frame must be joined from two chunks: a fresh buffer per frame, filled by copies. */
function allocCopyAll(chunks, frameSize) {
  let out = Buffer.allocUnsafe(frameSize)
  let pos = 0
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.length;) {
      const n = Math.min(chunk.length - at, frameSize - pos)
      chunk.copy(out, pos, at, at + n)
      at += n
      pos += n
      if (pos === frameSize) {
        out = Buffer.allocUnsafe(frameSize)
        pos = 0
      }
    }
  }
  return out
}

{
  const chunks = chunked(pushStream, MiB)
  if (decodeAll(chunks) !== PUSHES) throw new Error('push benchmark: wrong frame count')
  const s = time(() => decodeAll(chunks))
  const floor = time(() => copyAll(chunks, dest))
  report('decode 64 KiB Pushes, 1 MiB chunks', pushStream.length / s / 1e9, 'GB/s', 1, s, floor, pushStream.length,
    `${fmt(PUSHES / s)} frames/s; payloads are views (1 frame in 16 spans two chunks and is copied)`)
}

{
  // 64 KiB reads, as a socket gives them: every 64 KiB frame spans two chunks, so each one is
  // copied once into a buffer of its own. Shown for context; the floor that matters here is a
  // fresh allocation plus a copy per frame (new memory costs page faults, not only copying).
  const chunks = chunked(pushStream, 64 * KiB)
  if (decodeAll(chunks) !== PUSHES) throw new Error('push benchmark: wrong frame count')
  const s = time(() => decodeAll(chunks))
  const floor = time(() => copyAll(chunks, dest))
  const allocFloor = time(() => allocCopyAll(chunks, push.length))
  report('decode 64 KiB Pushes, 64 KiB chunks', pushStream.length / s / 1e9, 'GB/s', null, s, floor, pushStream.length,
    `${fmt(PUSHES / s)} frames/s; every frame copied once; alloc+copy floor ${fmt(pushStream.length / allocFloor / 1e9, 2)} GB/s (codec ${fmt(s / allocFloor, 2)}x its time)`)
}

if (JSON_OUT) console.log(JSON.stringify({ ...header, results }, null, 2))
if (results.some((r) => !r.pass)) process.exitCode = 1
