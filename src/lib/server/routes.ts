import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import YAML from 'yaml'
import { parseDuration } from '../flag-values.js'
import { StmpError } from '../errors.js'
import type { HandlerResult, IncomingRequest, Session, StmpServer } from '../session/index.js'
import type { Handler } from '../session/server.js'
import { type Template, type TemplateScope, TemplateError, compileTemplate } from './template.js'
import { type PayloadValues, isSuccess, statusMessage } from './values.js'

/**
 * `serve --routes FILE`: a YAML (or JSON) map from action to what the mock server does with it.
 * The format is documented in docs/serve.md; examples/routes.yaml uses every field.
 *
 *   user.get:
 *     status: 200                      # default 200
 *     reply: { id: "{{payload.id}}", by: "{{headers.authorization}}" }
 *     delay: 20ms                      # or { time: 200ms, every: 50 }
 *     join: "{{payload.room}}"         # also leave; a name or a list
 *     push: { action: hello, payload: {...} }                 # to the sender; one or a list
 *     broadcast: { to: "room:lobby", action: news, payload: ..., exceptSender: true }
 *     close: { code: 1000, message: bye }                     # after the response
 *   "*": { reply: "{{payload}}" }      # the fallback; without it unknown actions get 404
 *
 * Keys may hold `*` wildcards (`chat.*`): an exact key wins, then wildcard keys in file order,
 * then `"*"`. Effects run in this order: delay, leave, join, push, broadcast, the response,
 * close. Pushes go out before the response, so a client holding the response already has them.
 */

export interface RouteDelay {
  ms: number
  /** Delay only every Nth request of this route (1: every request). */
  every: number
}

interface Message {
  action: Template
  payload?: Template
}

interface Broadcast extends Message {
  to: Template
  exceptSender: boolean
}

export interface Route {
  key: string
  status: number
  reply?: Template
  /** The reply is exactly "{{payload}}": send the request's bytes back unchanged. */
  echo: boolean
  delay?: RouteDelay
  join: Template[]
  leave: Template[]
  push: Message[]
  broadcast: Broadcast[]
  close?: { code: number; message: string }
  /** The response's own headers (stmp-go packet headers), values templated. */
  headers: Array<[string, Template]>
  /** Requests matched so far (the `every` counter). */
  count: number
}

export interface RouteTable {
  file: string
  exact: Map<string, Route>
  patterns: Array<{ pattern: RegExp; route: Route }>
  fallback?: Route
}

const FIELDS = ['status', 'reply', 'headers', 'delay', 'join', 'leave', 'push', 'broadcast', 'close'] as const

/** Reads and validates a routes file; anything wrong is BAD_ROUTES naming the route and field. */
export function loadRoutes(file: string): RouteTable {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new StmpError('BAD_ROUTES', `--routes ${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  let doc: unknown
  try {
    doc = YAML.parse(text, { prettyErrors: true, uniqueKeys: true })
  } catch (err) {
    throw new StmpError('BAD_ROUTES', `${file}: not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`, { cause: err })
  }
  return compileRoutes(doc, file)
}

export function compileRoutes(doc: unknown, file = 'routes'): RouteTable {
  const name = basename(file)
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new StmpError('BAD_ROUTES', `${name}: the top level must be a map from action to route (e.g. "user.get: {reply: ...}")`)
  }
  const table: RouteTable = { file, exact: new Map(), patterns: [] }
  for (const [key, spec] of Object.entries(doc)) {
    const route = compileRoute(key, spec, name)
    if (key === '*') table.fallback = route
    else if (key.includes('*')) table.patterns.push({ pattern: globToRegExp(key), route })
    else table.exact.set(key, route)
  }
  if (table.exact.size + table.patterns.length === 0 && !table.fallback) {
    throw new StmpError('BAD_ROUTES', `${name}: no routes`)
  }
  return table
}

function compileRoute(key: string, spec: unknown, file: string): Route {
  const fail = (field: string | undefined, why: string): never => {
    throw new StmpError('BAD_ROUTES', `${file}: route ${JSON.stringify(key)}${field ? `: field "${field}"` : ''}: ${why}`)
  }
  if (key === '' || key.includes('\n')) fail(undefined, 'an action is non-empty and has no newline')
  if (spec === null || spec === undefined) spec = {}
  if (typeof spec !== 'object' || Array.isArray(spec)) return fail(undefined, `must be a map of fields (${FIELDS.join(', ')})`)
  const s = spec as Record<string, unknown>
  for (const field of Object.keys(s)) {
    if (!(FIELDS as readonly string[]).includes(field)) fail(field, `unknown field (fields: ${FIELDS.join(', ')})`)
  }
  const template = (field: string, value: unknown): Template => {
    try {
      return compileTemplate(value)
    } catch (err) {
      if (err instanceof TemplateError) return fail(field, err.message)
      throw err
    }
  }
  const text = (field: string, value: unknown): Template => {
    if (typeof value !== 'string' || value === '') return fail(field, 'must be a non-empty string')
    return template(field, value)
  }
  const list = <T>(field: string, value: unknown, one: (v: unknown, where: string) => T): T[] => {
    if (value === undefined) return []
    const items = Array.isArray(value) ? value : [value]
    return items.map((v, i) => one(v, Array.isArray(value) ? `${field}[${i}]` : field))
  }
  const message = (v: unknown, where: string, extra: string[] = []): Record<string, unknown> => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return fail(where, 'must be a map with "action" and "payload"')
    const m = v as Record<string, unknown>
    for (const k of Object.keys(m)) if (!['action', 'payload', ...extra].includes(k)) fail(`${where}.${k}`, `unknown field (fields: action, payload${extra.map((e) => `, ${e}`).join('')})`)
    if (m.action === undefined) fail(`${where}.action`, 'is required')
    return m
  }

  let status = 200
  if (s.status !== undefined) {
    if (typeof s.status !== 'number' || !Number.isInteger(s.status) || s.status < 100 || s.status > 599) {
      fail('status', `must be an integer from 100 to 599, not ${JSON.stringify(s.status)}`)
    }
    status = s.status as number
  }
  if (s.reply !== undefined && !isSuccess(status) && typeof s.reply !== 'string') {
    fail('reply', `with status ${status} the reply is a message text (docs/protocol.md §4, Response)`)
  }

  let delay: RouteDelay | undefined
  if (s.delay !== undefined) {
    const duration = (v: unknown, where: string): number => {
      if (typeof v === 'number' && v >= 0) return v
      if (typeof v !== 'string') return fail(where, 'must be a duration such as 200ms or 1s (a bare number is milliseconds)')
      try {
        return parseDuration(v, where)
      } catch {
        return fail(where, `${JSON.stringify(v)} is not a duration such as 200ms or 1s`)
      }
    }
    if (s.delay !== null && typeof s.delay === 'object' && !Array.isArray(s.delay)) {
      const d = s.delay as Record<string, unknown>
      for (const k of Object.keys(d)) if (k !== 'time' && k !== 'every') fail(`delay.${k}`, 'unknown field (fields: time, every)')
      if (d.time === undefined) fail('delay.time', 'is required')
      const every = d.every ?? 1
      if (typeof every !== 'number' || !Number.isInteger(every) || every < 1) fail('delay.every', `must be an integer >= 1, not ${JSON.stringify(every)}`)
      delay = { ms: duration(d.time, 'delay.time'), every: every as number }
    } else {
      delay = { ms: duration(s.delay, 'delay'), every: 1 }
    }
  }

  let close: Route['close']
  if (s.close !== undefined) {
    const c = (s.close === true ? {} : s.close) as Record<string, unknown>
    if (c === null || typeof c !== 'object' || Array.isArray(c)) return fail('close', 'must be true or a map with "code" and "message"')
    for (const k of Object.keys(c)) if (k !== 'code' && k !== 'message') fail(`close.${k}`, 'unknown field (fields: code, message)')
    const code = c.code ?? 1000
    if (typeof code !== 'number' || !Number.isInteger(code) || code < 1000 || code > 4999) fail('close.code', `must be a close code from 1000 to 4999, not ${JSON.stringify(code)}`)
    if (c.message !== undefined && typeof c.message !== 'string') fail('close.message', 'must be a string')
    close = { code: code as number, message: (c.message as string | undefined) ?? '' }
  }

  const headers: Route['headers'] = []
  if (s.headers !== undefined) {
    const h = s.headers as Record<string, unknown>
    if (h === null || typeof h !== 'object' || Array.isArray(h)) fail('headers', 'must be a map of header names to values (e.g. headers: { X-Echo: "yes" })')
    for (const [k, v] of Object.entries(h)) {
      if (!/^[^\s:;%]+$/.test(k)) fail(`headers.${k}`, 'a header name has no spaces, ":", ";" or "%"')
      headers.push([k, typeof v === 'string' ? text(`headers.${k}`, v) : text(`headers.${k}`, String(v))])
    }
  }

  return {
    key,
    status,
    headers,
    reply: s.reply === undefined ? undefined : template('reply', s.reply),
    echo: typeof s.reply === 'string' && /^\{\{\s*payload\s*\}\}$/.test(s.reply),
    delay,
    join: list('join', s.join, (v, where) => text(where, v)),
    leave: list('leave', s.leave, (v, where) => text(where, v)),
    push: list('push', s.push, (v, where) => {
      const m = message(v, where)
      return { action: text(`${where}.action`, m.action), payload: m.payload === undefined ? undefined : template(`${where}.payload`, m.payload) }
    }),
    broadcast: list('broadcast', s.broadcast, (v, where) => {
      const m = message(v, where, ['to', 'exceptSender'])
      if (m.exceptSender !== undefined && typeof m.exceptSender !== 'boolean') fail(`${where}.exceptSender`, 'must be true or false')
      const to = m.to === undefined ? 'all' : typeof m.to === 'number' ? String(m.to) : m.to
      return {
        to: text(`${where}.to`, to),
        action: text(`${where}.action`, m.action),
        payload: m.payload === undefined ? undefined : template(`${where}.payload`, m.payload),
        exceptSender: m.exceptSender === true,
      }
    }),
    close,
    count: 0,
  }
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
}

export function findRoute(table: RouteTable, action: string): Route | undefined {
  return table.exact.get(action) ?? table.patterns.find((p) => p.pattern.test(action))?.route ?? table.fallback
}

/** The handler for a route table: requests get the route's answer, pushes its effects. */
export function routesHandler(table: RouteTable, values: PayloadValues): Handler {
  const scopeOf = (session: Session, action: string, id: number, payload: Buffer, role: 'request' | 'push'): TemplateScope => {
    let decoded: { value: unknown } | undefined
    return {
      get payload() {
        decoded ??= { value: values.decode(session, payload, action, role) }
        return decoded.value
      },
      headers: session.headers,
      connection: { id: session.id, remote: session.transport.remote, url: session.url, contentType: session.contentType },
      action,
      id,
    }
  }
  const effects = async (route: Route, scope: TemplateScope, session: Session, server: StmpServer): Promise<void> => {
    if (route.delay && route.delay.ms > 0 && route.count % route.delay.every === 0) {
      await new Promise((resolve) => setTimeout(resolve, route.delay?.ms))
    }
    for (const room of route.leave) server.leave(session, String(room(scope)))
    for (const room of route.join) server.join(session, String(room(scope)))
    for (const p of route.push) {
      if (session.state !== 'open') break
      const action = String(p.action(scope))
      session.push(action, values.encode(session, p.payload?.(scope), action, 'push'))
    }
    for (const b of route.broadcast) {
      const action = String(b.action(scope))
      values.broadcast(server, String(b.to(scope)), action, b.payload?.(scope), b.exceptSender ? session : undefined)
    }
  }
  const closeAfter = (route: Route, session: Session) => {
    if (route.close) {
      const { code, message } = route.close
      // After the response is written: close() sends Close behind the queued frames.
      setImmediate(() => void session.close(code, message))
    }
  }
  return {
    async request(request: IncomingRequest, session: Session, server: StmpServer): Promise<HandlerResult> {
      const route = findRoute(table, request.action)
      if (!route) return { status: 404, payload: Buffer.from(`no route for action ${JSON.stringify(request.action)} in ${basename(table.file)}`, 'utf8') }
      route.count++
      const scope = scopeOf(session, request.action, request.id, request.payload, 'request')
      try {
        await effects(route, scope, session, server)
        let payload: Buffer
        if (route.echo) payload = request.payload
        else if (!isSuccess(route.status)) payload = statusMessage(route.reply?.(scope), route.status)
        else payload = values.encode(session, route.reply?.(scope), request.action, 'response')
        if (route.headers.length === 0) return { status: route.status, payload }
        return { status: route.status, payload, headers: Object.fromEntries(route.headers.map(([k, v]) => [k, String(v(scope))])) }
      } catch (err) {
        // A payload the templates cannot read is the client's fault (400, wire notes §5).
        if (err instanceof StmpError && err.code === 'BAD_PAYLOAD') return { status: 400, payload: Buffer.from(err.message, 'utf8') }
        throw err
      } finally {
        closeAfter(route, session)
      }
    },
    async push(push, session, server) {
      const route = findRoute(table, push.action)
      if (!route) return
      route.count++
      await effects(route, scopeOf(session, push.action, push.id, push.payload, 'push'), session, server)
      closeAfter(route, session)
    },
  }
}
