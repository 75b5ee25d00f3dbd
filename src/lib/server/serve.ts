import { createSecureContext } from 'node:tls'
import type { ChalkInstance } from 'chalk'
import { readFileFlag } from '../flag-values.js'
import { DEFAULT_LIMITS } from '../codec/index.js'
import { StmpError } from '../errors.js'
import { ProtoRegistry } from '../payload/index.js'
import { DEFAULT_DIALECT, loadDialect } from '../dialects/registry.js'
import { type Handler, type Session, StmpServer, checkDialectFlags, echoHandler } from '../session/index.js'
import { type Address, type ServerTlsOptions, formatAddress, parseAddress } from '../transport/index.js'
import { readControl } from './control.js'
import { loadMiddleware, middlewareHandler } from './handler-module.js'
import { type Reporter, event, reportClose, reportError, reportOpen, reportStats, traceFrames } from './observe.js'
import { loadRoutes, routesHandler } from './routes.js'
import { PayloadValues } from './values.js'

/** The keys of serve's own dialect event lines. */
const OWN_KEYS = new Set(['time', 'event', 'connection', 'name'])

/** Where `serve` listens when given no URL: loopback only, the safe default for a mock server. */
export const DEFAULT_SERVE_URL = 'tcp://127.0.0.1:5000'

export interface ServeConfig {
  urls: string[]
  /** The dialect of listeners whose URL names none (NAME+scheme://); default stmp-v3. */
  dialect?: string
  /** `-O KEY=VALUE`: the dialect's own options. */
  dialectOptions?: Record<string, string>
  cert?: string
  key?: string
  routes?: string
  handler?: string
  token?: string
  proto?: string[]
  importPaths?: string[]
  /** ms; 0 is off. */
  keepalive: number
  pingTimeout: number
  /** ms a stream client has to finish its handshake. */
  handshakeTimeout: number
  maxConnections: number
  maxFrameSize: number
  maxMessageSize: number
  /** Requests of one connection handled at once; past it the connection is not read. */
  maxInFlight: number
  stats: boolean
  statsInterval: number
  /** NDJSON on stdout (events, stats). */
  json: boolean
  /** Every frame as NDJSON on stdout. */
  log: boolean
  drainTimeout: number
}

export interface ServeIO {
  stdout(text: string): void
  stderr(text: string): void
  stdin?: NodeJS.ReadableStream
  chalk: ChalkInstance
}

export interface RunningServe {
  server: StmpServer
  /** The bound URLs, in the order given. */
  urls: string[]
  /** Graceful stop (see StmpServer.close); resolves when everything is closed. */
  stop(reason?: string): Promise<void>
}

/**
 * Everything `stmpcat serve` does short of parsing flags: check the config (bad URL, file or
 * routes are usage errors before anything listens), listen on every URL in order, answer by
 * echo / routes / handler module, report, and push what stdin says.
 */
export async function startServe(config: ServeConfig, io: ServeIO): Promise<RunningServe> {
  if (!(config.statsInterval > 0)) throw new StmpError('BAD_FLAG', '--stats-interval must be more than 0')
  if (!(config.pingTimeout > 0)) throw new StmpError('BAD_FLAG', '--ping-timeout must be more than 0')
  if (!(config.drainTimeout >= 0)) throw new StmpError('BAD_FLAG', '--drain-timeout must be 0 or more')
  if (!(config.maxFrameSize > 0) || !(config.maxMessageSize > 0)) throw new StmpError('BAD_FLAG', '--max-frame and --max-message must be more than 0')
  const addresses = (config.urls.length > 0 ? config.urls : [DEFAULT_SERVE_URL]).map((u) => parseAddress(u, { listening: true }))
  for (const a of addresses) {
    // Unknown dialects, and flags or options the dialect lacks, are usage errors before anything listens.
    const dialect = await loadDialect(a.dialect ?? config.dialect ?? DEFAULT_DIALECT)
    checkDialectFlags(dialect, config.token !== undefined ? ['token'] : [], Object.keys(config.dialectOptions ?? {}), undefined, config.dialectOptions ?? {})
    if (!(dialect.schemes as readonly string[]).includes(a.scheme)) {
      throw new StmpError('BAD_URL', `${formatAddress(a)}: ${dialect.title} does not run over ${a.scheme}:// (it runs over ${dialect.schemes.map((x) => `${x}://`).join(', ')})`)
    }
  }
  const tls = loadTls(config, addresses)
  const protoRegistry = config.proto?.length ? ProtoRegistry.load(config.proto, config.importPaths ?? []) : undefined
  const values = new PayloadValues(protoRegistry)
  let handler: Handler = echoHandler
  if (config.routes) handler = routesHandler(loadRoutes(config.routes), values)
  else if (config.handler) handler = middlewareHandler(await loadMiddleware(config.handler), values)

  const opened = new OpenCount(() => { let n = 0; for (const s of server.sessions.values()) if (s.state === 'open') n++; return n })
  const reporter: Reporter = {
    machine: config.json || config.log,
    json: (o) => io.stdout(`${JSON.stringify(o)}\n`),
    human: (line) => io.stderr(`stmpcat serve: ${line}\n`),
    chalk: io.chalk,
  }
  const server = new StmpServer({
    dialect: config.dialect,
    dialectOptions: protoRegistry ? { ...config.dialectOptions, protoRegistry } : config.dialectOptions,
    token: config.token,
    maxConnections: config.maxConnections,
    handshakeTimeout: config.handshakeTimeout,
    tls,
    session: {
      keepalive: config.keepalive,
      pingTimeout: config.pingTimeout,
      maxIncoming: config.maxInFlight,
      limits: { maxFrameSize: config.maxFrameSize, maxMessageSize: config.maxMessageSize, maxOpenMessages: DEFAULT_LIMITS.maxOpenMessages },
    },
    handler: {
      request: (request, session, srv) => limiterOf(session, config.maxInFlight).run(() => handler.request(request, session, srv)),
      push: (push, session, srv) => {
        Promise.resolve(handler.push?.(push, session, srv)).catch((err: unknown) => {
          reportError(reporter, `#${session.id} push ${push.action}`, asStmpError(err), { connection: session.id, action: push.action })
        })
      },
    },
    onConnection: (session) => {
      opened.check()
      // The "open" event carries what the handshake said (URL, headers, content type);
      // --log traces every frame from there on.
      reportOpen(reporter, session)
      if (config.log) traceFrames(reporter, session, values)
      if (config.stats && config.keepalive === 0) {
        // RTT comes from pings: without --keepalive, one per stats interval measures it.
        const timer = setInterval(() => { if (session.state === 'open') session.ping().catch(() => undefined) }, config.statsInterval)
        timer.unref()
        void session.closed.then(() => clearInterval(timer))
      }
    },
    // --log: a dialect's own events (CAMP's ack timeouts, drops, transactions; rooms), bytes as hex.
    // A field named like one of the line's own keys (a transaction's `name`) gets a trailing `_`
    // instead of overwriting the event's name.
    onEvent: config.log ? (name, data, session) => {
      reporter.json(event('dialect', { connection: session.id, name, ...Object.fromEntries(Object.entries(data).map(([k, v]) => [OWN_KEYS.has(k) ? `${k}_` : k, Buffer.isBuffer(v) ? v.toString('hex') : v])) }))
    } : undefined,
    onDisconnect: (session, info) => {
      if (config.stats) reportStats(reporter, session, true)
      reportClose(reporter, session, info)
    },
  })

  const urls: string[] = []
  try {
    for (const address of addresses) {
      const listener = await server.listen(address)
      const url = formatAddress(listener.address)
      urls.push(url)
      io.stderr(`stmpcat serve: listening on ${url}\n`)
    }
  } catch (err) {
    await server.close(0)
    throw err
  }
  // One line once every listener is bound, with the real addresses (port 0 resolved): what a
  // script waits for before it connects.
  if (reporter.machine) reporter.json(event('listening', { urls }))
  if (!config.routes && !config.handler) reporter.human('echo mode: every request gets 200 with its own payload')

  const statsTimer = config.stats
    ? setInterval(() => { for (const s of server.sessions.values()) if (s.state === 'open') reportStats(reporter, s, false) }, config.statsInterval)
    : undefined
  statsTimer?.unref()

  const stopControl = io.stdin
    ? readControl(io.stdin, server, values, {
      pushed: (line, count, control) => {
        if (count === 0) reporter.human(`stdin line ${line}: no connection got ${control.action} (to ${control.to})`)
      },
      error: (line, error) => reportError(reporter, `stdin line ${line}`, error, { line }),
      connections: (count) => opened.until(count),
    })
    : undefined

  let stopping: Promise<void> | undefined
  return {
    server,
    urls,
    stop: (reason = 'stopping') => {
      stopping ??= (async () => {
        stopControl?.()
        if (statsTimer) clearInterval(statsTimer)
        reporter.human(`${reason}: closing ${server.sessions.size} connection(s) with 1001`)
        if (reporter.machine) reporter.json(event('shutdown', { reason, connections: server.sessions.size }))
        await server.close(config.drainTimeout)
      })()
      return stopping
    },
  }
}

function loadTls(config: ServeConfig, addresses: Address[]): ServerTlsOptions | undefined {
  const needs = addresses.filter((a) => a.scheme === 'tls' || a.scheme === 'wss')
  if (config.cert === undefined && config.key === undefined) {
    if (needs.length > 0) throw new StmpError('BAD_FLAG', `${formatAddress(needs[0])} needs --cert and --key`)
    return undefined
  }
  if (config.cert === undefined || config.key === undefined) throw new StmpError('BAD_FLAG', '--cert and --key go together')
  const tls = { cert: readFileFlag(config.cert, 'cert'), key: readFileFlag(config.key, 'key') }
  try {
    createSecureContext(tls)
  } catch (err) {
    throw new StmpError('BAD_FILE', `--cert ${config.cert} / --key ${config.key}: not a usable PEM certificate and key: ${(err as Error).message}`, { cause: err })
  }
  return tls
}

/** Waits for a number of open connections (stdin's `{"wait": N}`). */
class OpenCount {
  private readonly waiters: Array<{ count: number; resolve: () => void }> = []

  constructor(private readonly size: () => number) {}

  until(count: number): Promise<void> {
    if (this.size() >= count) return Promise.resolve()
    return new Promise((resolve) => this.waiters.push({ count, resolve }))
  }

  check(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.size() >= this.waiters[i].count) this.waiters.splice(i, 1)[0].resolve()
    }
  }
}

/**
 * At most `max` requests of one connection in a handler at once. The session stops reading past
 * its maxIncoming, but requests that arrived in the same chunk are already decoded: they wait
 * here for a slot, in order.
 */
class Limiter {
  private active = 0
  private readonly queue: Array<() => void> = []

  constructor(private readonly max: number) {}

  async run<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.queue.push(resolve))
    else this.active++
    try {
      return await fn()
    } finally {
      // Hand the slot straight to the next waiter, so nothing can slip in between.
      const next = this.queue.shift()
      if (next) next()
      else this.active--
    }
  }
}

function limiterOf(session: Session, max: number): Limiter {
  let limiter = session.data.get('serve.limiter') as Limiter | undefined
  if (!limiter) session.data.set('serve.limiter', (limiter = new Limiter(max)))
  return limiter
}

function asStmpError(err: unknown): StmpError {
  return err instanceof StmpError ? err : new StmpError('HANDLER_FAILED', err instanceof Error ? err.message : String(err))
}

/** Resolves with the first of these signals; a second one forces the exit (the caller's job). */
export function nextSignal(signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handlers = signals.map((sig) => {
      const h = () => {
        for (const [s, f] of handlers) process.off(s, f)
        resolve(sig)
      }
      process.on(sig, h)
      return [sig, h] as const
    })
  })
}

/**
 * Under `npx` (npm exec: `npm_command=exec`) serve is not the process the shell started: npm
 * runs `sh -c stmpcat ...`, which runs node. `kill $!` ends npm and its shell but not node,
 * which would keep the port. So under npm exec, serve watches its parent and resolves once it
 * is gone (the process is re-parented), and the caller stops as on SIGTERM. Started any other
 * way (the linked binary, `node bin/run.js`, nohup) nothing is watched: the shell's `$!` is the
 * server itself. Never resolves when there is nothing to watch.
 */
export function parentExited(env: NodeJS.ProcessEnv = process.env, everyMs = 500): Promise<'parent exited'> {
  return new Promise((resolve) => {
    if (env.npm_command !== 'exec') return
    const parent = process.ppid
    const timer = setInterval(() => {
      if (process.ppid !== parent) {
        clearInterval(timer)
        resolve('parent exited')
      }
    }, everyMs)
    timer.unref()
  })
}
