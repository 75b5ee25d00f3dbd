/**
 * Make a decoded value printable as JSON without losing information silently.
 *
 * JSON.stringify throws on bigint, prints a Buffer as `{"type":"Buffer","data":[...]}`, a Map as
 * `{}` and NaN as `null`. msgpack can carry all of these (int64, bin, maps with any keys,
 * float NaN), so the CLI runs decoded values through this before printing. The choices match
 * protobuf's JSON mapping, so every codec prints the same thing for the same kind of value:
 * - bigint: a number when it is a safe integer, else its decimal string (protobuf int64 style)
 * - Buffer / Uint8Array / ArrayBuffer: a standard base64 string (protobuf bytes style)
 * - NaN, Infinity, -Infinity: the strings "NaN", "Infinity", "-Infinity"
 * - Map: an object whose keys are the keys printed as strings (a non-string key goes through
 *   toJsonSafe and JSON.stringify)
 * - Set: an array; Date: its ISO string; undefined: null (in arrays) or left out (in objects)
 */
export function toJsonSafe(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      if (Number.isFinite(value)) return value
      return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity'
    case 'bigint':
      return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(value)
        : value.toString()
    case 'undefined':
    case 'function':
    case 'symbol':
      return null
  }
  if (value === null) return null
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64')
  if (value instanceof ArrayBuffer) return Buffer.from(value).toString('base64')
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  if (Array.isArray(value)) return value.map((v) => toJsonSafe(v))
  if (value instanceof Set) return [...value].map((v) => toJsonSafe(v))
  if (value instanceof Map) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of value) {
      const key = typeof k === 'string' ? k : JSON.stringify(toJsonSafe(k))
      defineKey(out, key, toJsonSafe(v))
    }
    return out
  }
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined) continue
    defineKey(out, k, toJsonSafe(v))
  }
  return out
}

/** `out[key] = v` would call the `__proto__` setter; a payload may well carry that key. */
function defineKey(out: Record<string, unknown>, key: string, v: unknown): void {
  Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true })
}
