import { StmpError } from '../errors.js'
import { DIALECT_LOADERS } from './registry.generated.js'
import type { Dialect } from './types.js'

/** The dialect every command speaks unless told otherwise. */
export const DEFAULT_DIALECT = 'stmp-v3'

const loaded = new Map<string, Dialect>()

/** Names of the dialects there are (one per folder under src/lib/dialects/), the default first. */
export function dialectNames(): string[] {
  return Object.keys(DIALECT_LOADERS)
}

/** The dialect called `name`, loaded on first use; BAD_FLAG naming the others when there is none. */
export async function loadDialect(name: string = DEFAULT_DIALECT): Promise<Dialect> {
  const hit = loaded.get(name)
  if (hit) return hit
  const load = Object.hasOwn(DIALECT_LOADERS, name) ? DIALECT_LOADERS[name] : undefined
  if (!load) throw new StmpError('BAD_FLAG', `unknown dialect ${JSON.stringify(name)} (one of ${dialectNames().join(', ')}; \`stmpcat dialects\` lists them)`)
  const dialect = await load()
  loaded.set(name, dialect)
  return dialect
}

/** Every dialect, loaded (decode's sniffing, `stmpcat dialects`). */
export async function loadAllDialects(): Promise<Dialect[]> {
  return Promise.all(dialectNames().map((n) => loadDialect(n)))
}

/** A dialect already loaded (sync), for code handed a name by a caller that loaded it. */
export function loadedDialect(name: string): Dialect | undefined {
  return loaded.get(name)
}
