import { Flags } from '@oclif/core'

/**
 * The flags every client command shares (fetch, push, connect, bench); session/client-setup.ts
 * turns their values into connect() options and a payload codec.
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
