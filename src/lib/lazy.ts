import { createRequire } from 'node:module'

/**
 * A CommonJS package loaded on first use instead of at start-up: `lazyRequire('protobufjs',
 * import.meta.url)` is an object whose properties are the package's, read through on every
 * access, and the package is required the first time one is read. A plain JSON `fetch` never
 * reads one, so it never pays for parsing protobufjs or msgpackr (docs/startup.md). The API stays
 * synchronous, unlike `await import()`. `from` is the importing module's URL, for resolution.
 */
export function lazyRequire<T extends object>(id: string, from: string): T {
  let loaded: T | undefined
  const load = (): T => (loaded ??= createRequire(from)(id) as T)
  return new Proxy({} as T, {
    get: (_target, key) => Reflect.get(load(), key),
    has: (_target, key) => Reflect.has(load(), key),
  })
}
