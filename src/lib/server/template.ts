/**
 * Reply templates for `serve --routes`: any JSON value whose strings may hold `{{path}}`
 * placeholders. A string that is exactly one placeholder (`"{{payload}}"`, `"{{payload.items}}"`)
 * takes the value's own JSON type; a placeholder inside a longer string is interpolated as text
 * (objects as their JSON, a missing value as the empty string).
 *
 * Paths start at one of the scope's roots and go down by `.` (numbers index arrays):
 *   payload            the decoded request (or push) payload; payload.user.name, payload.items.0
 *   headers.NAME       a handshake header (names are case-insensitive)
 *   connection.id      the connection id; also connection.remote, connection.url, connection.contentType
 *   action, id         the request's action and message id
 */

export const TEMPLATE_ROOTS = ['payload', 'headers', 'connection', 'action', 'id'] as const

export interface TemplateScope {
  /** Decoded lazily: a template that never names the payload never decodes it. */
  readonly payload: unknown
  headers: Record<string, string>
  connection: { id: number; remote: string; url: string; contentType: string }
  action: string
  id: number
}

export type Template = (scope: TemplateScope) => unknown

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g
const WHOLE = /^\{\{\s*([^{}]*?)\s*\}\}$/

/** Thrown at compile time with the offending path; the routes loader adds route and field. */
export class TemplateError extends Error {}

/** Compiles a template once at load time; bad placeholders are a TemplateError. */
export function compileTemplate(value: unknown): Template {
  if (typeof value === 'string') return compileString(value)
  if (Array.isArray(value)) {
    const items = value.map((v) => compileTemplate(v))
    return (scope) => items.map((t) => t(scope))
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => [k, compileTemplate(v)] as const)
    return (scope) => {
      const out: Record<string, unknown> = {}
      for (const [k, t] of entries) {
        const v = t(scope)
        if (v !== undefined) out[k] = v
      }
      return out
    }
  }
  return () => value
}


function compileString(text: string): Template {
  const whole = WHOLE.exec(text)
  if (whole) {
    const get = compilePath(whole[1])
    return (scope) => get(scope) ?? null
  }
  const parts: Array<string | ((scope: TemplateScope) => unknown)> = []
  let last = 0
  const literal = (piece: string): string => {
    // "{{" left over is a placeholder that never closes ("{{payload.x"): an error, not text.
    const open = piece.indexOf('{{')
    if (open >= 0) throw new TemplateError(`unclosed placeholder ${JSON.stringify(piece.slice(open, open + 40))} in ${JSON.stringify(text)} (a placeholder ends with "}}")`)
    return piece
  }
  for (const m of text.matchAll(PLACEHOLDER)) {
    parts.push(literal(text.slice(last, m.index)), compilePath(m[1]))
    last = (m.index as number) + m[0].length
  }
  if (parts.length === 0) {
    literal(text)
    return () => text
  }
  parts.push(literal(text.slice(last)))
  return (scope) => parts.map((p) => (typeof p === 'string' ? p : asText(p(scope)))).join('')
}

function compilePath(path: string): (scope: TemplateScope) => unknown {
  if (path === '') throw new TemplateError('empty placeholder {{}}')
  const [root, ...rest] = path.split('.')
  if (!(TEMPLATE_ROOTS as readonly string[]).includes(root)) {
    throw new TemplateError(`unknown placeholder {{${path}}} (it starts with one of ${TEMPLATE_ROOTS.join(', ')})`)
  }
  if (rest.some((s) => s === '')) throw new TemplateError(`bad path in {{${path}}}`)
  // Header names are case-insensitive; the handshake gives them lower-cased.
  const keys = root === 'headers' ? rest.map((k) => k.toLowerCase()) : rest
  return (scope) => {
    let v: unknown = scope[root as keyof TemplateScope]
    for (const k of keys) {
      if (v === null || typeof v !== 'object' || !Object.hasOwn(v, k)) return undefined
      v = (v as Record<string, unknown>)[k]
    }
    return v
  }
}

function asText(v: unknown): string {
  if (v === undefined || v === null) return ''
  if (typeof v === 'string') return v
  return typeof v === 'object' ? JSON.stringify(v) : String(v)
}
