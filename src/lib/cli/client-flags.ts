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
  header: Flags.string({ char: 'H', summary: 'Handshake header "Key: Value" (repeatable).', multiple: true, multipleNonGreedy: true }),
  token: Flags.string({ summary: 'Bearer token: sends "Authorization: Bearer TOKEN" in the handshake.', env: 'STMPCAT_TOKEN' }),
  'content-type': Flags.string({ char: 't', summary: 'Payload content type: json, msgpack, protobuf, text, raw (or a MIME type).', default: 'json' }),
  proto: Flags.string({ summary: '.proto file with the service definitions (repeatable; needed for -t protobuf).', multiple: true, multipleNonGreedy: true }),
  'import-path': Flags.string({ char: 'I', summary: 'Directory to resolve .proto imports in (repeatable).', multiple: true, multipleNonGreedy: true }),
  timeout: Flags.string({ summary: 'Per-request timeout (and connect timeout), e.g. 500ms, 10s; at least 1ms (0 is BAD_FLAG, not "no timeout").', default: '10s' }),
  format: Flags.string({ summary: 'WebSocket message format for frames this side starts.', options: ['binary', 'text'], default: 'binary' }),
  'server-latency': Flags.boolean({ summary: 'Ask the server for the latency field in responses (stmp_server_latency=1).' }),
  ca: Flags.string({ summary: 'CA certificate file (PEM) to trust for tls:// and wss:// (repeatable).', multiple: true, multipleNonGreedy: true }),
  insecure: Flags.boolean({ char: 'k', summary: 'Do not verify the server certificate (tls://, wss://).' }),
}

export interface ClientFlagValues {
  header?: string[]
  token?: string
  'content-type': string
  proto?: string[]
  'import-path'?: string[]
  timeout: string
  format: string
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
  const format = flags.format as 'binary' | 'text'
  if (format === 'text' && (name === 'msgpack' || name === 'protobuf' || name === 'raw')) {
    throw new StmpError('BAD_FLAG', `--format text carries UTF-8 text only; ${name} payloads need --format binary`)
  }
  const timeout = parseTimeout(flags.timeout, 'timeout')
  return {
    codec,
    timeout,
    options: {
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
