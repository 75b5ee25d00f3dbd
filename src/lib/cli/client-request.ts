import { Args, Flags } from '@oclif/core'
import { StmpError } from '../errors.js'
import { type PayloadCodec, type PayloadRole, readData } from '../payload/index.js'
import { chalkFor } from '../render/colors.js'
import { traceSession } from '../render/trace.js'
import { type Session, connect } from '../session/index.js'
import { type Address, formatAddress, parseAddress } from '../transport/index.js'
import { type ClientFlagValues, type ClientSetup, clientSetup } from '../session/client-setup.js'

/**
 * The steps fetch and push (and any one-shot client command) share: check the URL, the flags
 * and the DATA before anything is dialled, then connect with the -v trace hooked in.
 */

export const targetArgs = {
  // ignoreStdin on every argument: oclif would otherwise take piped stdin as the first missing
  // one (`echo test.echo | stmpcat fetch :5000` sent the action "test.echo"). Stdin is the
  // payload, and only with `-d @-` (or DATA `@-`).
  url: Args.string({ description: 'tcp://host:port, tls://host:port, unix:/path.sock, ws://host:port/path, wss://host:port/path, host:port or :port', required: true, ignoreStdin: true }),
  action: Args.string({ description: 'the ACTION, e.g. user.get or pkg.Service/Method (never read from stdin)', required: true, ignoreStdin: true }),
  data: Args.string({ description: 'the payload: literal text, @file, or @- for stdin (same as -d)', required: false, ignoreStdin: true }),
}

export const dataFlags = {
  data: Flags.string({ char: 'd', summary: 'Payload: literal text, @file, or @- for stdin (curl style).' }),
  verbose: Flags.boolean({ char: 'v', summary: 'Show the connection, the handshake and every frame on stderr (> sent, < received).' }),
}

export interface PreparedRequest {
  address: Address
  setup: ClientSetup
  action: string
  /** The payload in wire bytes, checked against its content type. */
  payload: Buffer
}

/**
 * URL, flags and DATA to wire bytes; every mistake is a usage error (BAD_URL, BAD_FLAG,
 * BAD_FILE, BAD_PAYLOAD: exit 2) raised before any connection is opened.
 */
export async function prepareRequest(
  args: { url: string; action: string; data?: string },
  flags: ClientFlagValues & { data?: string },
  role: PayloadRole,
  stdin?: AsyncIterable<Buffer | string>,
): Promise<PreparedRequest> {
  const address = parseAddress(args.url)
  const setup = clientSetup(flags)
  if (args.action === '' || args.action.includes('\n')) throw new StmpError('BAD_INPUT', 'ACTION must be non-empty and hold no newline (docs/protocol.md §4)')
  if (args.data !== undefined && flags.data !== undefined) throw new StmpError('BAD_FLAG', 'give the payload once: as the DATA argument or with -d, not both')
  const bytes = await readData(args.data ?? flags.data, stdin)
  const payload = setup.codec.fromText(bytes, { action: args.action, role })
  return { address, setup, action: args.action, payload }
}

/** connect() with the -v trace (stderr) hooked in before the handshake when `verbose`. */
export function openSession(prepared: PreparedRequest, verbose: boolean, codec: PayloadCodec = prepared.setup.codec): Promise<Session> {
  const target = formatAddress(prepared.address)
  return connect(prepared.address, {
    ...prepared.setup.options,
    prepare: verbose ? (session) => { traceSession(session, { chalk: chalkFor(process.stderr), codec }, target) } : undefined,
  })
}
