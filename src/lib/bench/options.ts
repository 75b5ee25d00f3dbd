import { checkDialectFlags, dialectFor } from '../session/client.js'
import { clientSetup, type ClientFlagValues } from '../session/client-setup.js'
import { parseAddress } from '../transport/index.js'
import { parseDuration, parseSize } from '../flag-values.js'
import { StmpError } from '../errors.js'
import { readData, type PayloadCodec } from '../payload/index.js'
import type { Gates } from './gates.js'
import type { BenchSettings } from './run.js'

/** Limits of `bench` flags; each has its own BAD_FLAG message. */
export const BENCH_LIMITS = {
  maxConnections: 10_000,
  maxPipelining: 4096,
  maxWorkers: 64,
  /** Latency is recorded up to 60 s; a longer timeout could not be measured. */
  maxTimeoutMs: 60_000,
  maxPayloadBytes: 16 * 1024 * 1024,
  maxRate: 10_000_000,
} as const

export const BENCH_DEFAULTS = {
  connections: 10,
  pipelining: 1,
  durationMs: 10_000,
  timeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  action: 'test.echo',
  contentType: 'json',
  workers: 1,
} as const

/**
 * The flag values as oclif parsed them: the shared client flags and bench's own. Numbers come
 * as text from the command line (oclif would make a bad one a USAGE error; every bad bench
 * flag value is BAD_FLAG, checked here) or as numbers from code.
 */
export interface BenchFlags extends ClientFlagValues {
  connections: number | string
  pipelining: number | string
  duration?: string
  amount?: number | string
  rate?: number | string
  warmup?: string
  action: string
  data?: string
  'payload-size'?: string
  push: boolean
  workers: number | string
  'max-p99'?: number | string
  'max-error-rate'?: number | string
  'min-rps'?: number | string
}

function bad(message: string): StmpError {
  return new StmpError('BAD_FLAG', message)
}

function intIn(name: string, value: number | string, min: number, max: number): number {
  const n = typeof value === 'number' ? value : /^\s*\+?\d+\s*$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isInteger(n) || n < min || n > max) throw bad(`--${name} must be an integer from ${min} to ${max} (got ${String(value)})`)
  return n
}

function numberFlag(name: string, value: number | string | undefined): number | undefined {
  if (value === undefined || typeof value === 'number') return value
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n)) throw bad(`--${name}: "${value}" is not a number`)
  return n
}

export async function resolveSettings(target: string | undefined, flags: BenchFlags): Promise<{ settings: BenchSettings; gates: Gates }> {
  const connections = intIn('connections', flags.connections, 1, BENCH_LIMITS.maxConnections)
  const pipelining = intIn('pipelining', flags.pipelining, 1, BENCH_LIMITS.maxPipelining)
  const workers = intIn('workers', flags.workers, 1, Math.min(BENCH_LIMITS.maxWorkers, connections))
  const amount = flags.amount !== undefined ? intIn('amount', flags.amount, 1, Number.MAX_SAFE_INTEGER) : undefined
  const rate = flags.rate !== undefined ? intIn('rate', flags.rate, 1, BENCH_LIMITS.maxRate) : undefined
  const durationMs = flags.duration !== undefined ? parseDuration(flags.duration, 'duration') : amount !== undefined ? null : BENCH_DEFAULTS.durationMs
  if (durationMs !== null && durationMs <= 0) throw bad('--duration must be more than 0')
  const warmupMs = flags.warmup !== undefined ? parseDuration(flags.warmup, 'warmup') : 0
  // -H, --token, -t, --proto, -I, --timeout, --format, --server-latency, --ca, -k: as fetch and push take them.
  const client = clientSetup(flags)
  const timeoutMs = client.timeout
  if (timeoutMs < 1 || timeoutMs > BENCH_LIMITS.maxTimeoutMs) throw bad(`--timeout must be from 1ms to ${BENCH_LIMITS.maxTimeoutMs / 1000}s (latency is recorded up to 60 s)`)
  if (flags.push && rate !== undefined) throw bad('--push sends as fast as the socket takes it; --rate applies to requests only')
  const format = flags.format ?? 'binary'
  if (format !== 'binary' && format !== 'text') throw bad('--format must be binary or text')
  if (flags.action === '' || flags.action.includes('\n')) throw bad('--action must be non-empty and hold no newline (docs/protocol.md §4)')
  const maxErrorRate = numberFlag('max-error-rate', flags['max-error-rate'])
  if (maxErrorRate !== undefined && !(maxErrorRate >= 0 && maxErrorRate <= 1)) throw bad('--max-error-rate is a fraction from 0 to 1 (e.g. 0.01 for 1%)')
  const maxP99 = numberFlag('max-p99', flags['max-p99'])
  if (maxP99 !== undefined && !(maxP99 > 0)) throw bad('--max-p99 is in milliseconds and must be more than 0')
  const minRps = numberFlag('min-rps', flags['min-rps'])
  if (minRps !== undefined && !(minRps >= 0)) throw bad('--min-rps must be 0 or more')

  const headers = { ...client.options.headers }
  // A flag or -O option the dialect lacks is BAD_FLAG before anything is dialled or started.
  const dialect = await dialectFor(target !== undefined ? parseAddress(target) : {}, client.options.dialect)
  const dialectFlags = client.options.dialectFlags ?? []
  checkDialectFlags(dialect, dialectFlags, Object.keys(client.options.dialectOptions ?? {}), client.codec.contentType, client.options.dialectOptions ?? {})
  if (flags.push && !dialect.features.pushes) throw bad(`--push: ${dialect.title} has no pushes`)
  if (!flags.push && !dialect.features.requests) throw bad(`${dialect.title} has no requests: try --push`)
  const codec = client.codec
  const payload = await buildPayload(codec, flags)
  const tls = client.options.tls

  return {
    settings: {
      target: target ?? null,
      connections,
      pipelining,
      durationMs,
      amount: amount ?? null,
      rate: rate ?? null,
      warmupMs,
      timeoutMs,
      connectTimeoutMs: Math.max(BENCH_DEFAULTS.connectTimeoutMs, timeoutMs),
      action: flags.action,
      payload,
      contentType: codec.contentType,
      format,
      serverLatency: flags['server-latency'],
      tls: { ca: (tls?.ca ?? []).map((b) => b.toString('utf8')), insecure: tls?.insecure === true },
      headers,
      token: client.options.token,
      push: flags.push,
      workers,
      dialect: dialect.name,
      dialectOptions: (client.options.dialectOptions ?? {}) as Record<string, string>,
      dialectFlags,
    },
    gates: { maxP99Ms: maxP99, maxErrorRate, minRps },
  }
}

/** The request PAYLOAD, built once: `--data` (text, `@file`, `@-`) or `--payload-size`. */
async function buildPayload(codec: PayloadCodec, flags: BenchFlags): Promise<Buffer> {
  const ctx = { action: flags.action, role: flags.push ? 'push' as const : 'request' as const }
  if (flags.data !== undefined && flags['payload-size'] !== undefined) throw bad('give --data or --payload-size, not both')
  let payload: Buffer
  if (flags['payload-size'] !== undefined) {
    const size = parseSize(flags['payload-size'], 'payload-size')
    if (size > BENCH_LIMITS.maxPayloadBytes) throw bad(`--payload-size is at most ${BENCH_LIMITS.maxPayloadBytes} bytes`)
    payload = sizedPayload(codec, size, ctx)
  } else if (flags.data !== undefined) {
    payload = codec.fromText(await readData(flags.data, process.stdin, { maxBytes: BENCH_LIMITS.maxPayloadBytes }), ctx)
  } else {
    payload = Buffer.alloc(0)
  }
  if (payload.length > BENCH_LIMITS.maxPayloadBytes) throw bad(`the payload is ${payload.length} bytes; the limit is ${BENCH_LIMITS.maxPayloadBytes}`)
  return payload
}

/** A payload of exactly `size` bytes that is valid in the content type (a string value). */
export function sizedPayload(codec: PayloadCodec, size: number, ctx: { action: string; role: 'request' | 'push' }): Buffer {
  switch (codec.name) {
    case 'json':
      if (size < 2) throw bad('--payload-size for JSON is at least 2 (the smallest JSON string, "")')
      return Buffer.from(`"${'x'.repeat(size - 2)}"`, 'utf8')
    case 'msgpack': {
      // msgpack str header: 1 byte up to 31, 2 up to 255, 3 up to 65535, else 5.
      for (const head of [1, 2, 3, 5]) {
        const n = size - head
        const fits = head === 1 ? n >= 0 && n <= 31 : head === 2 ? n > 31 && n <= 255 : head === 3 ? n > 255 && n <= 65535 : n > 65535
        if (fits) return codec.encode('x'.repeat(n), ctx)
      }
      throw bad(`no msgpack string is exactly ${size} bytes; try ${size + 1}`)
    }
    case 'protobuf':
      throw bad('--payload-size cannot build a protobuf message; give --data with the message as JSON')
    default:
      return Buffer.alloc(size, 'x')
  }
}
