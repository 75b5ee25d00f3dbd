import { existsSync } from 'node:fs'
import { extname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { StmpError } from '../errors.js'
import type { HandlerResult, IncomingPush, IncomingRequest, Session, StmpServer } from '../session/index.js'
import type { Handler } from '../session/server.js'
import { type PayloadValues, isSuccess, statusMessage, targets } from './values.js'

/**
 * `serve --handler FILE`: a JavaScript or TypeScript module whose default export is Koa-like
 * middleware, `(ctx, next) => ...`, or an array of them, run in order for every request (and
 * every push, with `ctx.kind === 'push'`, whose output goes nowhere). Like Koa, a request that
 * no middleware answered (no `ctx.output`, no `ctx.status`) gets 404; setting `ctx.output`
 * (or `ctx.body`) makes it 200. An error thrown anywhere becomes 500 with its message, or its
 * own status when it has one (`ctx.throw(403, 'no')`). docs/serve.md; examples/handler.mjs.
 */

export type Next = () => Promise<void>
export type Middleware = (ctx: Context, next: Next) => unknown

/** The client connection, as middleware sees it. */
export class Connection {
  constructor(readonly session: Session, private readonly server: StmpServer, private readonly values: PayloadValues) {}

  get id(): number { return this.session.id }
  get remote(): string { return this.session.transport.remote }
  get url(): string { return this.session.url }
  /** Handshake headers, names lower-cased. */
  get headers(): Record<string, string> { return this.session.headers }
  get contentType(): string { return this.session.contentType }
  get rooms(): string[] { return this.server.roomsOf(this.session) }
  /** Free per-connection storage (kept for the connection's life). */
  get data(): Map<string, unknown> { return this.session.data }
  get open(): boolean { return this.session.state === 'open' }

  /** Pushes a value (encoded in this connection's content type; a Buffer goes as it is). */
  push(action: string, payload?: unknown): void {
    this.session.push(action, this.values.encode(this.session, payload, action, 'push'))
  }

  /** A request to the client; resolves with its status and decoded output. */
  async request(action: string, payload?: unknown, options: { timeout?: number } = {}): Promise<{ status: number; output: unknown }> {
    const res = await this.session.request(action, this.values.encode(this.session, payload, action, 'request'), options)
    return { status: res.status, output: this.values.decode(this.session, res.payload, action, 'response', res.status) }
  }

  join(room: string): void { this.server.join(this.session, room) }
  leave(room: string): void { this.server.leave(this.session, room) }
  close(code = 1000, message = ''): Promise<unknown> { return this.session.close(code, message) }
}

/** The whole server, as middleware sees it. */
export class ServerApi {
  constructor(private readonly server: StmpServer, private readonly values: PayloadValues) {}

  /** Pushes to `all`, `room:NAME` or a connection id; returns how many connections got it. */
  broadcast(to: string | number, action: string, payload?: unknown, options: { except?: Connection | number } = {}): number {
    const except = typeof options.except === 'number' ? this.server.sessions.get(options.except) : options.except?.session
    return this.values.broadcast(this.server, to, action, payload, except)
  }

  /** Open connection ids. */
  get connections(): number[] { return [...this.server.sessions.keys()] }

  /** Room name → member connection ids. */
  get rooms(): Record<string, number[]> {
    return Object.fromEntries([...this.server.rooms].map(([name, members]) => [name, [...members].map((s) => s.id)]))
  }

  /** A connection by id (undefined when it is gone). */
  connection(id: number): Connection | undefined {
    const s = this.server.sessions.get(id)
    return s ? new Connection(s, this.server, this.values) : undefined
  }

  join(id: number, room: string): void { for (const s of targets(this.server, id)) this.server.join(s, room) }
  leave(id: number, room: string): void { for (const s of targets(this.server, id)) this.server.leave(s, room) }
}

/** An error with an HTTP status, from ctx.throw(). */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

export class Context {
  /** Koa's ctx.state: free for middleware to pass things down the chain. */
  readonly state: Record<string, unknown> = {}
  /** undefined until set; the answer is 404 if nothing set it or the output. */
  status?: number
  output: unknown = undefined
  /** The response's own headers (ctx.set), where the dialect's responses carry them (stmp-go). */
  readonly responseHeaders: Record<string, string> = {}
  private decoded?: { value: unknown }

  constructor(
    readonly kind: 'request' | 'push',
    readonly id: number,
    readonly action: string,
    /** The request payload as received. */
    readonly payload: Buffer,
    readonly conn: Connection,
    readonly server: ServerApi,
    private readonly values: PayloadValues,
  ) {}

  /** The payload decoded by the connection's content type (decoded on first use). */
  get input(): unknown {
    this.decoded ??= { value: this.values.decode(this.conn.session, this.payload, this.action, this.kind) }
    return this.decoded.value
  }

  /** Koa's ctx.set: a header of the response (stmp-go packet headers; other dialects have none). */
  set(key: string, value: string | number): void {
    this.responseHeaders[key] = String(value)
  }

  get body(): unknown { return this.output }
  set body(value: unknown) { this.output = value }

  get headers(): Record<string, string> { return this.conn.headers }

  throw(status: number, message?: string): never {
    throw new HttpError(status, message ?? `status ${status}`)
  }
}

/** koa-compose: each middleware gets `next` running the rest of the chain, once. */
export function compose(middleware: Middleware[]): (ctx: Context) => Promise<void> {
  return (ctx) => {
    let last = -1
    const run = async (i: number): Promise<void> => {
      if (i <= last) throw new Error('next() called more than once')
      last = i
      const fn = middleware[i]
      if (!fn) return
      await fn(ctx, () => run(i + 1))
    }
    return run(0)
  }
}

/** Loads the module (TypeScript through tsx); any failure is BAD_HANDLER naming the file. */
export async function loadMiddleware(file: string): Promise<Middleware[]> {
  const path = resolve(file)
  if (!existsSync(path)) throw new StmpError('BAD_HANDLER', `--handler ${file}: no such file`)
  let mod: Record<string, unknown>
  try {
    if (/^\.[cm]?tsx?$/.test(extname(path))) {
      const { tsImport } = await import('tsx/esm/api')
      mod = (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>
    } else {
      mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>
    }
  } catch (err) {
    throw new StmpError('BAD_HANDLER', `--handler ${file}: cannot load: ${(err as Error).message?.split('\n')[0] ?? String(err)}`, { cause: err })
  }
  // tsImport of a CommonJS-looking module may nest the default export one level deeper.
  let exported = mod.default
  if (exported && typeof exported === 'object' && !Array.isArray(exported) && 'default' in exported) exported = (exported as { default: unknown }).default
  const chain = Array.isArray(exported) ? exported : [exported]
  if (chain.length === 0 || chain.some((m) => typeof m !== 'function')) {
    throw new StmpError('BAD_HANDLER', `--handler ${file}: the default export must be a middleware function (ctx, next) or an array of them`)
  }
  return chain as Middleware[]
}

export function middlewareHandler(middleware: Middleware[], values: PayloadValues): Handler {
  const run = compose(middleware)
  const context = (kind: 'request' | 'push', message: IncomingRequest | IncomingPush, session: Session, server: StmpServer) =>
    new Context(kind, message.id, message.action, message.payload, new Connection(session, server, values), new ServerApi(server, values), values)
  return {
    async request(request, session, server): Promise<HandlerResult> {
      const ctx = context('request', request, session, server)
      try {
        await run(ctx)
      } catch (err) {
        if (err instanceof HttpError) return { status: err.status, payload: Buffer.from(err.message, 'utf8'), ...(Object.keys(ctx.responseHeaders).length > 0 ? { headers: ctx.responseHeaders } : {}) }
        if (err instanceof StmpError && err.code === 'BAD_PAYLOAD') return { status: 400, payload: Buffer.from(err.message, 'utf8') }
        throw err
      }
      if (ctx.status === undefined && ctx.output === undefined) {
        return { status: 404, payload: Buffer.from(`no middleware answered ${JSON.stringify(request.action)}`, 'utf8') }
      }
      const status = ctx.status ?? 200
      const headers = Object.keys(ctx.responseHeaders).length > 0 ? { headers: ctx.responseHeaders } : {}
      if (!isSuccess(status)) return { status, payload: statusMessage(ctx.output, status), ...headers }
      return { status, payload: values.encode(session, ctx.output, request.action, 'response'), ...headers }
    },
    async push(push, session, server) {
      await run(context('push', push, session, server))
    },
  }
}
