#!/usr/bin/env node
/**
 * Codec fuzzer (`npm run fuzz`; not in CI). Feeds random and mutated inputs through the stream
 * decoder (random options, random chunking) and `decodeMessage` (both formats), from `dist/`.
 *
 * Fails loudly (exit 1, the input printed as hex, with the seed and input number to replay) when:
 * - anything but a StmpProtocolError is thrown, or a protocol error carries an unknown code;
 * - the StreamDecoder throws at all (its contract: errors go to the error callback, wire notes §10);
 * - one input takes more than 1 s. The fuzz loop runs in a worker and bumps a shared counter
 *   per input; the main thread watches the counter, so a real hang (an input the decoder never
 *   returns from) is caught too, not only a slow one.
 *
 * Usage: node scripts/fuzz.mjs [--inputs N] [--seed S]
 * Prints inputs/s and a count of each error code at the end.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'

const MAX_INPUT = 1 << 16
const HANG_MS = 1000

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}

if (isMainThread) {
  const inputs = arg('inputs', 1_000_000)
  const seed = arg('seed', Date.now() % 0x7fffffff)
  // [0] inputs done, [1] current input length, [2] current input number
  const state = new Int32Array(new SharedArrayBuffer(12))
  const current = new Uint8Array(new SharedArrayBuffer(MAX_INPUT))
  const worker = new Worker(new URL(import.meta.url), { workerData: { inputs, seed, state: state.buffer, current: current.buffer } })
  process.stderr.write(`fuzz: ${inputs.toLocaleString('en-US')} inputs, seed ${seed}\n`)
  let last = -1
  let lastChange = performance.now()
  const watchdog = setInterval(() => {
    const done = Atomics.load(state, 0)
    const now = performance.now()
    if (done !== last) {
      last = done
      lastChange = now
      return
    }
    if (now - lastChange > HANG_MS) {
      clearInterval(watchdog)
      const hex = Buffer.from(current.subarray(0, Atomics.load(state, 1))).toString('hex')
      process.stderr.write(`fuzz: FAIL: input #${Atomics.load(state, 2)} has not returned after ${Math.round(now - lastChange)} ms (seed ${seed})\ninput hex: ${hex}\n`)
      void worker.terminate().then(() => process.exit(1))
    }
  }, 100)
  worker.on('message', (msg) => {
    clearInterval(watchdog)
    if (msg.type === 'fail') {
      process.stderr.write(`fuzz: FAIL: ${msg.reason} on input #${msg.index} (seed ${seed}, ${msg.where})\ninput hex: ${msg.hex}\ndecoding plan: ${msg.plan}\n${msg.stack ?? ''}\n`)
      process.exitCode = 1
      return
    }
    const { inputs: n, ms, codes, frames, slowest } = msg
    console.log(`fuzz: ${n.toLocaleString('en-US')} inputs in ${(ms / 1000).toFixed(1)} s = ${Math.round(n / (ms / 1000)).toLocaleString('en-US')} inputs/s (seed ${seed})`)
    console.log(`fuzz: ${frames.toLocaleString('en-US')} frames decoded; slowest input ${slowest.toFixed(2)} ms; no exception other than StmpProtocolError`)
    console.log('fuzz: protocol errors by code (stream decoder + decodeMessage):')
    for (const [code, count] of Object.entries(codes).sort((a, b) => b[1] - a[1])) console.log(`  ${code.padEnd(14)} ${count.toLocaleString('en-US')}`)
  })
  worker.on('error', (err) => {
    clearInterval(watchdog)
    process.stderr.write(`fuzz: FAIL: worker crashed: ${err.stack ?? err}\n`)
    process.exitCode = 1
  })
} else {
  const codec = await import('../dist/lib/codec/index.js')
  const { StreamDecoder, StmpProtocolError, ProtocolErrorCode, decodeMessage, encodeFrame, encodeFragmented, encodeHandshakeRequest, encodeHandshakeResponse } = codec
  const CODES = new Set(Object.values(ProtocolErrorCode))
  const { inputs, seed } = workerData
  const state = new Int32Array(workerData.state)
  const current = new Uint8Array(workerData.current)

  // mulberry32: small, fast, seedable, so a failure replays with --seed.
  let s = seed >>> 0
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n) => Math.floor(rand() * n)
  const pick = (a) => a[int(a.length)]
  // Random bytes come from a seeded pool, as views: generating them byte by byte would cost
  // more than decoding them. Nothing writes into them (mutations copy first).
  const POOL = Buffer.allocUnsafe(1 << 20)
  for (let i = 0; i < POOL.length; i += 4) POOL.writeUInt32LE(int(2 ** 32), i)
  const bytes = (n) => {
    const at = int(POOL.length - n)
    return POOL.subarray(at, at + n)
  }
  const INTERESTING = [0x00, 0x0a, 0x7f, 0x80, 0xff, 0x03, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x30, 0x40, 0x50, 0x70, 0x8c]
  const WORDS = ['a', 'test.echo', 'chat.say', 'é', '中文', '😀', 'x'.repeat(40)]
  const text = () => Array.from({ length: int(4) }, () => pick(WORDS)).join(int(2) ? '.' : '')

  function frame(serverLatency) {
    const id = int(65536)
    switch (int(5)) {
      case 0: return { kind: 'ping', id }
      case 1: return { kind: 'close', status: pick([1000, 1001, 1002, 1009, int(65536)]), message: text() }
      case 2: return { kind: 'response', id, status: pick([200, 404, 500, int(65536)]), latency: serverLatency ? int(65536) : null, payload: bytes(int(64)), follow: false, fin: false }
      default: return { kind: pick(['request', 'push']), id, action: text() || 'a', payload: bytes(int(int(2) ? 64 : 600)), follow: false, fin: false }
    }
  }

  /** A valid encoding: a stream of frames (maybe after a handshake, maybe fragmented) or one message. */
  function valid() {
    const serverLatency = int(2) === 1
    if (int(4) === 0) {
      const format = pick(['binary', 'text'])
      return encodeFrame(frame(serverLatency), { framing: 'websocket', format, serverLatency })
    }
    const opts = { framing: 'stream', format: 'binary', serverLatency }
    const parts = []
    const r = int(8)
    if (r === 0) parts.push(encodeHandshakeRequest({ url: `/?stmp_version=3&${text()}`, headers: int(2) ? { authorization: text() } : {} }))
    if (r === 1) parts.push(encodeHandshakeResponse({ status: pick([200, 400, 401]), message: text() }))
    for (let n = 1 + int(4); n > 0; n--) {
      const f = frame(serverLatency)
      if ((f.kind === 'request' || f.kind === 'push' || f.kind === 'response') && int(3) === 0 && f.payload.length > 8) {
        // Room for the head (kind fields, action) plus 1 to 40 payload bytes a frame.
        parts.push(...encodeFragmented(f, opts, Buffer.byteLength(f.action ?? '') + 8 + int(40)))
      } else {
        parts.push(encodeFrame(f, opts))
      }
    }
    return Buffer.concat(parts)
  }

  function mutate(b) {
    for (let n = 1 + int(3); n > 0; n--) {
      const at = int(b.length + 1)
      switch (int(7)) {
        case 0: if (b.length) { b = Buffer.from(b); b[at % b.length] ^= 1 << int(8) } break
        case 1: b = b.subarray(0, at); break
        case 2: b = Buffer.concat([b.subarray(0, at), bytes(1 + int(8)), b.subarray(at)]); break
        case 3: { const from = int(b.length + 1); b = Buffer.concat([b.subarray(0, at), b.subarray(from, from + int(32)), b.subarray(at)]); break }
        case 4: b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(8))]); break
        case 5: if (b.length) { b = Buffer.from(b); b[at % b.length] = pick(INTERESTING) } break
        default: b = Buffer.concat([b, valid()]); break
      }
    }
    return b
  }

  function input() {
    const r = int(10)
    if (r < 2) return bytes(int(int(4) ? 16 : 300))
    if (r < 3) return valid()
    return mutate(valid())
  }

  const codes = Object.create(null)
  let frames = 0
  const onFrame = () => { frames++ }
  let streamError
  const onError = (err) => {
    if (!(err instanceof StmpProtocolError) || !CODES.has(err.code)) streamError ??= err
    codes[err.code] = (codes[err.code] ?? 0) + 1
  }

  /** How one input is decoded: drawn before decoding, so a failure can be replayed exactly. */
  function plan(length) {
    const cuts = []
    for (let pos = 0; pos < length;) {
      pos += int(3) === 0 ? length - pos : 1 + int(32)
      cuts.push(pos)
    }
    return {
      options: {
        serverLatency: int(2) === 1,
        handshake: pick(['none', 'none', 'client', 'server']),
        continueAfterError: int(4) !== 0,
        maxFrameSize: int(4) === 0 ? 1 + int(64) : undefined,
        maxMessageSize: int(4) === 0 ? int(200) : undefined,
        maxOpenMessages: int(4) === 0 ? int(3) : undefined,
      },
      cuts,
      message: { format: int(2) ? 'binary' : 'text', serverLatency: int(2) === 1 },
    }
  }

  /** Decodes `b` both ways; returns a failure description, or undefined when all is well. */
  function check(b, p) {
    streamError = undefined
    try {
      const decoder = new StreamDecoder(onFrame, onError, p.options)
      let last = 0
      for (const cut of p.cuts) {
        decoder.write(b.subarray(last, cut))
        last = cut
      }
      decoder.end()
    } catch (err) {
      return { where: 'StreamDecoder', err, reason: err instanceof StmpProtocolError ? 'StreamDecoder threw a protocol error instead of reporting it' : 'StreamDecoder threw' }
    }
    if (streamError) return { where: 'StreamDecoder', err: streamError, reason: `StreamDecoder reported a non-protocol error or an unknown code ${streamError.code}` }
    try {
      decodeMessage(b, p.message)
      frames++
    } catch (err) {
      if (!(err instanceof StmpProtocolError) || !CODES.has(err.code)) return { where: 'decodeMessage', err, reason: 'decodeMessage threw something other than a coded StmpProtocolError' }
      codes[err.code] = (codes[err.code] ?? 0) + 1
    }
    return undefined
  }

  // Protocol errors are most of what the fuzzer makes, and capturing a stack trace is most of a
  // protocol error's cost; the loop runs without stacks, and a failing input is decoded once
  // more with them for the report.
  const stackTraceLimit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  let slowest = 0
  let i = 0
  const start = performance.now()
  for (; i < inputs; i++) {
    let b = input()
    if (b.length > MAX_INPUT) b = b.subarray(0, MAX_INPUT)
    current.set(b)
    Atomics.store(state, 1, b.length)
    Atomics.store(state, 2, i)
    const p = plan(b.length)
    const t0 = performance.now()
    let failure = check(b, p)
    const took = performance.now() - t0
    if (took > slowest) slowest = took
    if (!failure && took > HANG_MS) failure = { where: 'both decoders', reason: `one input took ${took.toFixed(0)} ms` }
    if (failure) {
      Error.stackTraceLimit = stackTraceLimit
      const again = check(b, p) ?? failure
      const err = again.err
      parentPort.postMessage({
        type: 'fail', reason: again.reason, index: i, where: again.where, hex: b.toString('hex'),
        stack: err === undefined ? undefined : (err.stack ?? String(err)), plan: JSON.stringify(p),
      })
      break
    }
    Atomics.store(state, 0, i + 1)
  }
  if (i === inputs) parentPort.postMessage({ type: 'done', inputs, ms: performance.now() - start, codes, frames, slowest })
}
