import YAML from 'yaml'
import { StmpError } from '../errors.js'
import type { PayloadCodec } from '../payload/index.js'
import { clientSetup } from '../session/client-setup.js'
import type { Gates } from './gates.js'
import { resolveSettings, type BenchFlags } from './options.js'
import type { BenchSettings } from './run.js'

/**
 * `stmpcat bench --artillery FILE`: the Artillery scenario (engine stmp, packages/
 * artillery-engine-stmp, docs/artillery.md) that puts the same load on the same target as the
 * bench command line, so a run can move from one machine to Artillery's workers unchanged.
 * The flags are checked exactly as for a run (resolveSettings); nothing is dialled.
 *
 * bench's model and Artillery's differ in three places, said in the file's comments:
 * - `-c N` connections are N virtual users that arrive in the first second and each keep their
 *   connection for the whole run (a `loop` with a `duration`, an extension of engine stmp).
 * - `-p N` is a `parallel` block of N requests per round: N in flight, but the round waits for
 *   the slowest, where bench sends the next one as soon as any answer arrives.
 * - `-R` is a pause after each response (think) sized for the rate, not bench's fixed schedule:
 *   a slow server lowers the rate instead of building a queue (no coordinated-omission correction).
 */
export async function artilleryScenario(target: string | undefined, flags: BenchFlags): Promise<string> {
  if (target === undefined) {
    throw new StmpError('BAD_FLAG', '--artillery needs a URL: Artillery cannot start bench\'s embedded echo server (run `stmpcat serve` and give its address)')
  }
  const { settings, gates } = await resolveSettings(target, flags)
  return scenarioText(settings, gates, flags, clientSetup(flags).codec)
}

export function scenarioText(settings: BenchSettings, gates: Gates, flags: BenchFlags, codec: PayloadCodec): string {
  const c = settings.connections
  const p = settings.pipelining
  const request: Record<string, unknown> = { action: settings.action }
  const payload = payloadText(codec, settings)
  if (payload !== undefined) request.payload = payload
  const one = settings.push ? { push: request } : { request }
  const round: Record<string, unknown>[] = p === 1 ? [one] : [{ parallel: Array.from({ length: p }, () => one) }]
  // Artillery's think takes whole seconds or a duration string (a fraction of a second as a number is 0).
  if (settings.rate !== null) round.push({ think: `${Math.round((c * p * 1000 / settings.rate) * 1000) / 1000}ms` })
  const loop: Record<string, unknown> = { loop: round }
  const totalMs = settings.durationMs === null ? null : settings.durationMs + settings.warmupMs
  if (totalMs !== null) loop.duration = `${Math.round(totalMs)}ms`
  if (settings.amount !== null) loop.count = Math.max(1, Math.ceil(settings.amount / (c * p)))

  const stmp: Record<string, unknown> = {}
  if (settings.dialect !== 'stmp-v3') stmp.dialect = settings.dialect
  stmp.contentType = flags['content-type']
  if (flags.proto?.length) stmp.proto = flags.proto
  if (flags['import-path']?.length) stmp.importPath = flags['import-path']
  if (Object.keys(settings.headers).length > 0) stmp.headers = settings.headers
  if (settings.token !== undefined) stmp.token = settings.token
  if (flags.format !== undefined) stmp.format = flags.format
  if (settings.serverLatency) stmp.serverLatency = true
  if (Object.keys(settings.dialectOptions).length > 0) stmp.options = settings.dialectOptions
  stmp.timeout = `${settings.timeoutMs}ms`
  if (flags.ca?.length) stmp.ca = flags.ca
  if (settings.tls.insecure) stmp.insecure = true

  const config: Record<string, unknown> = {
    target: settings.target,
    // arrivalRate, not arrivalCount: Artillery splits a rate between its local workers, and runs an arrivalCount phase in the first one only.
    phases: [{ name: `${c} connection${c === 1 ? '' : 's'}`, duration: 1, arrivalRate: c }],
    engines: { stmp },
  }
  const thresholds: Record<string, number>[] = []
  const conditions: { expression: string }[] = []
  if (gates.maxP99Ms !== undefined) thresholds.push({ 'stmp.response_time.p99': gates.maxP99Ms })
  if (gates.maxErrorRate !== undefined) conditions.push({ expression: `(stmp.requests - stmp.responses) / stmp.requests <= ${gates.maxErrorRate}` })
  if (gates.minRps !== undefined) conditions.push({ expression: `stmp.request_rate >= ${gates.minRps}` })
  if (thresholds.length + conditions.length > 0) {
    config.plugins = { ensure: {} }
    config.ensure = { ...(thresholds.length > 0 ? { thresholds } : {}), ...(conditions.length > 0 ? { conditions } : {}) }
  }
  const doc = new YAML.Document({ config, scenarios: [{ name: 'bench', engine: 'stmp', flow: [loop] }] }, { aliasDuplicateObjects: false })
  doc.commentBefore = [
    ` Artillery scenario written by \`stmpcat bench --artillery\` (docs/artillery.md). Run it with`,
    ' artillery run FILE (Artillery 2.0.21 on Node 20, and artillery-engine-stmp installed).',
    ` The same load as the bench command line, but in Artillery's model: the ${c} connection${c === 1 ? '' : 's'} (-c) are`,
    ' virtual users arriving in the first second, each looping on its own connection',
    p > 1 ? ` with ${p} requests in flight per round (-p; a round waits for its slowest answer).` : ' with one request in flight (-p 1).',
    settings.rate !== null ? ` -R ${settings.rate}/s is a pause after each round sized for that rate, not a fixed schedule.` : ' No -R: each VU sends as fast as it is answered (closed model).',
    settings.warmupMs > 0 ? ` --warmup is part of the loop's duration: Artillery counts it.` : undefined,
    settings.workers > 1 ? ` -w ${settings.workers}: Artillery splits the arrivals over its own workers (one per CPU but one, locally).` : undefined,
  ].filter((l) => l !== undefined).join('\n')
  return doc.toString({ lineWidth: 0 })
}

/**
 * The payload as the engine's `payload` string: the text `--data` gave (a string payload is read
 * as `-d` reads it, by the content type); msgpack and protobuf as the JSON of their value.
 */
function payloadText(codec: PayloadCodec, settings: BenchSettings): string | undefined {
  const bytes = settings.payload
  if (bytes.length === 0) return undefined
  const ctx = { action: settings.action, role: settings.push ? 'push' as const : 'request' as const }
  if (codec.name === 'msgpack' || codec.name === 'protobuf') return JSON.stringify(codec.decode(bytes, ctx))
  const text = bytes.toString('utf8')
  if (!Buffer.from(text, 'utf8').equals(bytes)) throw new StmpError('BAD_FLAG', '--artillery: the payload is not UTF-8 text, and a scenario file holds text')
  return text
}
