import { readFileSync } from 'node:fs'
import { Flags } from '@oclif/core'
import { StmpError } from '../errors.js'
import { CONTENT_TYPES, type PayloadCodec, ProtoRegistry, codecName, getPayloadCodec } from '../payload/index.js'
import type { ConnectOptions } from '../session/index.js'
import { parseHeaders, parseTimeout } from './units.js'

/**
 * The flags every client command shares (fetch, push, connect, bench), and the one function
 * that turns them into connect() options and a payload codec.
 */
export const clientFlags = {
  dialect: Flags.string({ summary: 'Wire dialect (default stmp-v3); `stmpcat dialects` lists them. An address NAME+scheme:// names its own.', env: 'STMPCAT_DIALECT' }),
  option: Flags.string({ char: 'O', summary: 'A dialect\'s own option KEY=VALUE (repeatable); `stmpcat dialects` lists each dialect\'s.', multiple: true, multipleNonGreedy: true }),
  header: Flags.string({ char: 'H', summary: 'Handshake header "Key: Value" (repeatable).', multiple: true, multipleNonGreedy: true }),
  token: Flags.string({ summary: 'Bearer token: sends "Authorization: Bearer TOKEN" in the handshake.', env: 'STMPCAT_TOKEN' }),
  'content-type': Flags.string({ char: 't', summary: 'Payload content type: json, msgpack, protobuf, text, raw (or a MIME type).', default: 'json' }),
  proto: Flags.string({ summary: '.proto file with the service definitions (repeatable; needed for -t protobuf).', multiple: true, multipleNonGreedy: true }),
  'import-path': Flags.string({ char: 'I', summary: 'Directory to resolve .proto imports in (repeatable).', multiple: true, multipleNonGreedy: true }),
  timeout: Flags.string({ summary: 'Per-request timeout (and connect timeout), e.g. 500ms, 10s; at least 1ms (0 is BAD_FLAG, not "no timeout").', default: '10s' }),
  format: Flags.string({ summary: 'WebSocket message format for frames this side starts (stmp-v3; default binary).', options: ['binary', 'text'] }),
  'server-latency': Flags.boolean({ summary: 'Ask the server for the latency field in responses (stmp_server_latency=1).' }),
  ca: Flags.string({ summary: 'CA certificate file (PEM) to trust for tls:// and wss:// (repeatable).', multiple: true, multipleNonGreedy: true }),
  insecure: Flags.boolean({ char: 'k', summary: 'Do not verify the server certificate (tls://, wss://).' }),
}

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

export function readFileFlag(path: string, flag: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new StmpError('BAD_FILE', `--${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
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
