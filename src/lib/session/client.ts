import { DEFAULT_DIALECT, loadAllDialects, loadDialect } from '../dialects/registry.js'
import type { Dialect, DialectOptions } from '../dialects/types.js'
import { StmpError } from '../errors.js'
import type { ProtoRegistry } from '../payload/index.js'
import { type Address, type DialOptions, dial, handshakeUrl, parseAddress } from '../transport/index.js'
import type { SessionOptions } from './options.js'
import { Session } from './session.js'

export interface ConnectOptions extends Partial<SessionOptions>, DialOptions {
  /** The dialect (a name, or one loaded); an address's `NAME+scheme:` wins. Default stmp-v3. */
  dialect?: string | Dialect
  /** The values of the dialect's own flags (see Dialect.flags), and `-O KEY=VALUE` options. */
  dialectOptions?: DialectOptions
  /** Command flags the user gave that only some dialects have: BAD_FLAG under one that lacks them. */
  dialectFlags?: string[]
  /** MIME type of the payloads (stmp-v3: `stmp_content_type`; default application/json). */
  contentType?: string
  /** Credentials: stmp-v3 sends `Authorization: Bearer TOKEN`; other dialects their own way. */
  token?: string
  /** The loaded `--proto` files: a dialect that names actions by its services reads them (stmp-go). */
  protoRegistry?: ProtoRegistry
  /** Called before the handshake, so `-v` sees it. */
  prepare?(session: Session): void
}

/** The dialect an address and options name, loaded. */
export async function dialectFor(address: Pick<Address, 'dialect'>, dialect?: string | Dialect): Promise<Dialect> {
  if (address.dialect !== undefined) return loadDialect(address.dialect)
  if (dialect !== undefined && typeof dialect !== 'string') return dialect
  return loadDialect(dialect ?? DEFAULT_DIALECT)
}

/**
 * Opens a client session: dial, then the dialect's negotiation (the STMP handshake on streams,
 * the upgrade on WebSocket for stmp-v3). What goes into the target's query, headers and
 * subprotocols is the dialect's (Dialect.upgrade): stmp-v3 puts stmp_version=3,
 * stmp_content_type and stmp_server_latency there (wire notes §8).
 */
export async function connect(target: string | Address, options: ConnectOptions = {}): Promise<Session> {
  const address = typeof target === 'string' ? parseAddress(target) : { ...target, query: new URLSearchParams(target.query) }
  const dialect = await dialectFor(address, options.dialect)
  if (!(dialect.schemes as readonly string[]).includes(address.scheme)) {
    throw new StmpError('BAD_URL', `${dialect.title} does not run over ${address.scheme}:// (it runs over ${dialect.schemes.map((s) => `${s}://`).join(', ')})`)
  }
  checkDialectFlags(dialect, options.dialectFlags ?? [], Object.keys(options.dialectOptions ?? {}), options.contentType, options.dialectOptions ?? {})
  const dialectOptions: DialectOptions = {
    ...options.dialectOptions,
    contentType: options.contentType ?? options.dialectOptions?.contentType,
    token: options.token ?? options.dialectOptions?.token,
    serverLatency: options.serverLatency ?? options.dialectOptions?.serverLatency,
    format: options.format ?? options.dialectOptions?.format,
    headers: { ...options.dialectOptions?.headers, ...options.headers },
    ...(options.protoRegistry ? { protoRegistry: options.protoRegistry } : {}),
  }
  const up = dialect.upgrade?.(dialectOptions, address.query) ?? {}
  for (const [k, v] of Object.entries(up.query ?? {})) address.query.set(k, v)
  const headers: Record<string, string> = { ...(up.headers ?? dialectOptions.headers) }
  const transport = await dial(address, { ...options, headers, protocols: up.protocols, maxMessageSize: options.limits?.maxMessageSize })
  const serverLatency = dialectOptions.serverLatency === true || address.query.get('stmp_server_latency') === '1'
  const session = new Session(transport, { dialect, options: { ...dialectOptions, serverLatency } }, { ...options, role: 'client', serverLatency })
  session.contentType = dialectOptions.contentType ?? address.query.get('stmp_content_type') ?? dialect.contentTypes[0]
  options.prepare?.(session)
  const url = handshakeUrl(address)
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
  if (session.state === 'handshake') {
    try {
      await session.handshake(url, headers, options.timeout)
    } catch (err) {
      throw await withDialectHint(err, session, dialect)
    }
  } else session.accept(url, lower, { contentType: session.contentType, agreed: { serverLatency } })
  return session
}

/**
 * A failed negotiation whose peer sent bytes another dialect recognises: the error says so
 * ("looks like stmp-go 1.0: try --dialect stmp-go"), from the dialects' own sniffers.
 */
export async function withDialectHint(err: unknown, session: Session, tried: Dialect): Promise<unknown> {
  if (!(err instanceof StmpError) || session.firstReceived.length === 0) return err
  const hint = await recogniseDialect(session.firstReceived, session.transport.framing, tried.name)
  if (hint === undefined) return err
  return new StmpError(err.code, `${err.message}: looks like ${hint.title}: try --dialect ${hint.name}`, { status: err.status, exitCode: err.exitCode, offset: err.offset, closeCode: err.closeCode })
}

/** The dialect (other than `except`) whose sniffer is surest these server bytes are its own. */
export async function recogniseDialect(server: Buffer, framing: 'stream' | 'websocket', except?: string): Promise<Dialect | undefined> {
  let best: Dialect | undefined
  let score = 0
  for (const d of await loadAllDialects()) {
    if (d.name === except || !d.capture) continue
    const s = d.capture.sniff({ framing, server })
    if (s > score) {
      best = d
      score = s
    }
  }
  return best
}

/**
 * Flags and `-O` options the dialect does not have are refused (BAD_FLAG) before anything is
 * dialled; so is a content type it cannot carry.
 */
export function checkDialectFlags(dialect: Dialect, flags: readonly string[], options: readonly string[], contentType?: string, values?: DialectOptions): void {
  for (const f of flags) {
    if (!dialect.flags.includes(f)) throw new StmpError('BAD_FLAG', `--${f} has no meaning in ${dialect.title} (--dialect ${dialect.name}); its own flags: ${dialect.flags.length > 0 ? dialect.flags.map((n) => `--${n}`).join(', ') : 'none'}`)
  }
  for (const o of options) {
    if (!dialect.flags.includes(o)) throw new StmpError('BAD_FLAG', `-O ${o}=...: ${dialect.title} has no option ${o}${dialect.flags.length > 0 ? ` (it has: ${dialect.flags.join(', ')})` : ' (it has none)'}`)
  }
  if (contentType !== undefined && contentType !== 'application/json' && !dialect.contentTypes.includes(contentType)) {
    throw new StmpError('BAD_FLAG', `${dialect.title} carries ${dialect.contentTypes.join(', ')}, not ${contentType}`)
  }
  if (values !== undefined) dialect.checkOptions?.(values)
}
