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

let bufferIsUtf8: ((input: Buffer | ArrayBuffer | NodeJS.TypedArray) => boolean) | undefined

/**
 * node:buffer's isUtf8, with node:buffer loaded at the first call: an ES module importing
 * node:buffer makes Node build the module's ES facade at start (a few ms), and a JSON request
 * never calls it (ASCII and JSON take other paths).
 */
export function isUtf8(input: Buffer | ArrayBuffer | NodeJS.TypedArray): boolean {
  return (bufferIsUtf8 ??= (createRequire(import.meta.url)('node:buffer') as typeof import('node:buffer')).isUtf8)(input)
}
