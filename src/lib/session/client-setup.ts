import { StmpError } from '../errors.js'
import { parseHeaders, parseTimeout, readFileFlag } from '../flag-values.js'
import { CONTENT_TYPES, type PayloadCodec, ProtoRegistry, codecName, getPayloadCodec } from '../payload/index.js'
import type { ConnectOptions } from './client.js'

/**
 * The values of the client flags (cli/client-flags.ts) as connect() options and a payload codec:
 * one function for fetch, push, connect (and its REPL's /set), bench.
 */
export interface ClientFlagValues {
  dialect?: string
  option?: string[]
  header?: string[]
  token?: string
  'content-type': string
  proto?: string[]
  'import-path'?: string[]
  timeout: string
  format?: string
  'server-latency': boolean
  ca?: string[]
  insecure: boolean
}

export interface ClientSetup {
  options: ConnectOptions
  codec: PayloadCodec
  /** Request timeout in ms. */
  timeout: number
}

export function clientSetup(flags: ClientFlagValues): ClientSetup {
  const name = codecName(flags['content-type'])
  const protoRegistry = flags.proto?.length ? ProtoRegistry.load(flags.proto, flags['import-path'] ?? []) : undefined
  const codec = getPayloadCodec(name, { protoRegistry })
  const format = (flags.format ?? 'binary') as 'binary' | 'text'
  if (format === 'text' && (name === 'msgpack' || name === 'protobuf' || name === 'raw')) {
    throw new StmpError('BAD_FLAG', `--format text carries UTF-8 text only; ${name} payloads need --format binary`)
  }
  const timeout = parseTimeout(flags.timeout, 'timeout')
  return {
    codec,
    timeout,
    options: {
      dialect: flags.dialect,
      dialectOptions: parseOptions(flags.option),
      dialectFlags: givenDialectFlags(flags),
      headers: parseHeaders(flags.header),
      token: flags.token,
      protoRegistry,
      contentType: CONTENT_TYPES[name],
      format,
      serverLatency: flags['server-latency'],
      timeout,
      requestTimeout: timeout,
      tls: { ca: flags.ca?.map((f) => readFileFlag(f, 'ca')), insecure: flags.insecure },
    },
  }
}

/** `-O KEY=VALUE` flags as dialect options (values stay strings; the dialect reads them). */
export function parseOptions(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const v of values ?? []) {
    const eq = v.indexOf('=')
    if (eq <= 0) throw new StmpError('BAD_FLAG', `-O ${JSON.stringify(v)}: expected KEY=VALUE (e.g. -O gzip=1)`)
    out[v.slice(0, eq)] = v.slice(eq + 1)
  }
  return out
}

/** The flags given that only some dialects have (connect() refuses them under one that lacks them). */
export function givenDialectFlags(flags: Pick<ClientFlagValues, 'format' | 'server-latency' | 'token' | 'header'>): string[] {
  const given: string[] = []
  if (flags.format !== undefined) given.push('format')
  if (flags['server-latency']) given.push('server-latency')
  if (flags.token !== undefined) given.push('token')
  if (flags.header !== undefined && flags.header.length > 0) given.push('header')
  return given
}
