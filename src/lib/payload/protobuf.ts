import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type * as Protobufjs from 'protobufjs'
import { StmpError } from '../errors.js'
import { lazyRequire } from '../lazy.js'
import { decodeUtf8, parseJson } from './json.js'
import type { PayloadCodec, PayloadContext } from './types.js'

// protobufjs is required on first use (a JSON request never loads it); `protobuf.X` is the
// package as before, for values and for types.
const protobuf = lazyRequire<typeof Protobufjs>('protobufjs', import.meta.url)
// eslint-disable-next-line @typescript-eslint/no-namespace
declare namespace protobuf {
  export type Enum = Protobufjs.Enum
  export type Field = Protobufjs.Field
  export type MapField = Protobufjs.MapField
  export type Message = Protobufjs.Message
  export type Method = Protobufjs.Method
  export type Namespace = Protobufjs.Namespace
  export type NamespaceBase = Protobufjs.NamespaceBase
  export type ReflectionObject = Protobufjs.ReflectionObject
  export type Root = Protobufjs.Root
  export type Service = Protobufjs.Service
  export type Type = Protobufjs.Type
}

/** One field of a message, described for interactive prompts and completion. */
export interface ProtoFieldInfo {
  name: string
  /** The scalar type (`int64`, `string`, ...) or the full name of the message or enum. */
  type: string
  kind: 'scalar' | 'enum' | 'message'
  repeated: boolean
  /** Set for `map<K, V>` fields: the key type (`type` is then the value type). */
  keyType?: string
  /** The oneof the field belongs to, if any. */
  oneof?: string
  /** The value names of an enum field. */
  values?: string[]
  /** The fields of a message field; left out where a message type recurses into itself. */
  fields?: ProtoFieldInfo[]
}

export interface ProtoMethodInfo {
  /** `Method` */
  name: string
  /** `package.Service.Method` */
  fullName: string
  /** `package.Service` */
  service: string
  requestType: string
  responseType: string
  /** The request type's fields. */
  fields: ProtoFieldInfo[]
}

export interface ProtoLoadOptions {
  /**
   * Keep field names as written in the .proto (default true): the names a user reads in the
   * file are the names they type in JSON. lowerCamelCase names (protobuf's JSON mapping) are
   * accepted on input either way.
   */
  keepCase?: boolean
}

const SCALARS = new Set([
  'double', 'float', 'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32',
  'int64', 'uint64', 'sint64', 'fixed64', 'sfixed64', 'bool', 'string', 'bytes',
])

/**
 * The message types of the user's `.proto` files (wire notes §9: "message types named per
 * action by the user's .proto service definitions").
 *
 * An action names a method as `package.Service.Method`, `package.Service/Method`,
 * `Service/Method` or `Service.Method` (a leading `/`, as in gRPC paths, is allowed). The
 * package may be left out when the service name is unique across the loaded files.
 */
export class ProtoRegistry {
  private readonly methodsByName = new Map<string, protobuf.Method[]>()
  private readonly typesByName = new Map<string, protobuf.Type[]>()
  /** Resolved (action, role) → type: this runs once per frame, so look each action up once. */
  private readonly cache = new Map<string, protobuf.Type>()

  private constructor(readonly root: protobuf.Root) {
    for (const obj of walk(root)) {
      // A method needs at least `Service.Method`: a bare method name says too little. A
      // push may name a message type by its bare name.
      if (obj instanceof protobuf.Method) index(this.methodsByName, obj.fullName.slice(1), obj, 2)
      else if (obj instanceof protobuf.Type) index(this.typesByName, obj.fullName.slice(1), obj, 1)
    }
  }

  /**
   * Load `.proto` files. Imports are looked up in `importPaths` in order (like protoc's -I),
   * then next to the importing file; `google/protobuf/*.proto` well-known types are built in.
   * A missing file, a syntax error or an unknown type is BAD_PROTO naming the file and line.
   */
  static load(files: string[], importPaths: string[] = [], options: ProtoLoadOptions = {}): ProtoRegistry {
    if (files.length === 0) throw new StmpError('BAD_PROTO', 'no .proto file given')
    const root = new protobuf.Root()
    const roots = importPaths.map((p) => path.resolve(p))
    root.resolvePath = (origin: string, target: string): string => {
      if (origin === '') {
        // A file named on the command line: as given, else found through the import paths.
        const direct = path.resolve(target)
        if (existsSync(direct)) return direct
        for (const dir of roots) {
          const candidate = path.resolve(dir, target)
          if (existsSync(candidate)) return candidate
        }
        throw new StmpError('BAD_PROTO', `${target}: no such file${roots.length > 0 ? ` (also looked in ${roots.join(', ')})` : ''}`)
      }
      const searched = [...roots, path.dirname(origin)]
      for (const dir of searched) {
        const candidate = path.resolve(dir, target)
        if (existsSync(candidate)) return candidate
      }
      const line = lineOf(origin, (l) => l.includes(`"${target}"`) && /\bimport\b/.test(l))
      throw new StmpError('BAD_PROTO', `${origin}${line === undefined ? '' : `:${line}`}: import "${target}" not found in ${searched.join(', ')}`)
    }
    try {
      // loadSync ends with resolveAll(), which throws for a type name that names nothing.
      root.loadSync(files, { keepCase: options.keepCase ?? true })
    } catch (err) {
      throw protoError(root, err)
    }
    return new ProtoRegistry(root)
  }

  /** Every method of every service, sorted by full name. */
  methods(): ProtoMethodInfo[] {
    const out: ProtoMethodInfo[] = []
    for (const obj of walk(this.root)) {
      if (!(obj instanceof protobuf.Method)) continue
      const service = obj.parent as protobuf.Service
      const req = obj.resolvedRequestType as protobuf.Type
      const res = obj.resolvedResponseType as protobuf.Type
      out.push({
        name: obj.name,
        fullName: obj.fullName.slice(1),
        service: service.fullName.slice(1),
        requestType: req.fullName.slice(1),
        responseType: res.fullName.slice(1),
        fields: describeFields(req, new Set([req.fullName])),
      })
    }
    return out.sort((a, b) => (a.fullName < b.fullName ? -1 : a.fullName > b.fullName ? 1 : 0))
  }

  /** The method an action names; BAD_PAYLOAD when none or more than one fits. */
  method(action: string): protobuf.Method {
    const found = this.findMethod(action)
    if (found === undefined) throw new StmpError('BAD_PAYLOAD', `no protobuf method for action "${action}" in the loaded .proto files`)
    return found
  }

  /**
   * The message type of a payload: a request carries the method's request type, a response
   * its response type. A push names a message type (`package.Event`), or a method whose
   * request type it carries: stmp-go declares server pushes as methods of an `...Events`
   * service that the server calls on the client.
   */
  typeFor(ctx: PayloadContext): protobuf.Type {
    const key = `${ctx.role}\n${ctx.action}`
    const hit = this.cache.get(key)
    if (hit !== undefined) return hit
    let type: protobuf.Type
    if (ctx.role === 'push') {
      const name = normaliseAction(ctx.action)
      const types = lookup(this.typesByName, name)
      if (types.length > 1) throw ambiguous(ctx.action, types)
      if (types.length === 1) type = types[0]
      else {
        const m = this.findMethod(ctx.action)
        if (m === undefined) throw new StmpError('BAD_PAYLOAD', `no protobuf message type or method for push "${ctx.action}"`)
        type = m.resolvedRequestType as protobuf.Type
      }
    } else {
      const m = this.method(ctx.action)
      type = (ctx.role === 'request' ? m.resolvedRequestType : m.resolvedResponseType) as protobuf.Type
    }
    this.cache.set(key, type)
    return type
  }

  private findMethod(action: string): protobuf.Method | undefined {
    const found = lookup(this.methodsByName, normaliseAction(action))
    if (found.length > 1) throw ambiguous(action, found)
    return found[0]
  }
}

/**
 * application/protobuf. Encoding takes the JSON form (what decode prints, protobuf's JSON
 * mapping): enums by name or number, 64-bit integers as numbers or decimal strings, bytes as
 * base64 (standard or URL-safe), maps as objects.
 *
 * Why not `Type.verify` before `Type.fromObject`: verify checks protobufjs's runtime form
 * (enums as numbers, longs as Long objects) and rejects the JSON form that fromObject accepts
 * and that decode prints (`"kind": "HIGH"`, `"id": "123"`), while fromObject silently turns a
 * wrong value into a default (`"abc"` in an int32 becomes 0). So checkJson walks the JSON form
 * against the type first; a value that does not fit is BAD_PAYLOAD naming the field's path.
 */
export class ProtobufCodec implements PayloadCodec {
  readonly name = 'protobuf' as const
  readonly contentType = 'application/protobuf'

  constructor(readonly registry: ProtoRegistry) {}

  encode(value: unknown, ctx: PayloadContext): Buffer {
    const type = this.registry.typeFor(ctx)
    const checked = checkMessage(type, value === undefined ? {} : value, type.name)
    const bytes = type.encode(type.fromObject(checked)).finish()
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  decode(bytes: Buffer, ctx: PayloadContext): unknown {
    const type = this.registry.typeFor(ctx)
    let message: protobuf.Message
    try {
      message = type.decode(bytes)
    } catch (err) {
      throw new StmpError('BAD_PAYLOAD', `payload is not a valid ${type.fullName.slice(1)}: ${(err as Error).message}`, { cause: err })
    }
    // json: true prints NaN/Infinity floats as strings, like protobuf's JSON mapping.
    return type.toObject(message, { longs: String, enums: String, bytes: String, defaults: true, json: true })
  }

  /** JSON text of the message; empty text is the empty message (all defaults). */
  fromText(input: string | Buffer, ctx: PayloadContext): Buffer {
    const text = typeof input === 'string' ? input : decodeUtf8(input, 'protobuf data')
    return this.encode(text.trim() === '' ? {} : parseJson(text, 'protobuf data (JSON text)'), ctx)
  }
}

// ---------------------------------------------------------------------------------------------
// Checking the JSON form

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 }
const UINT32 = { min: 0, max: 2 ** 32 - 1 }
const INT64 = { min: -(2n ** 63n), max: 2n ** 63n - 1n }
const UINT64 = { min: 0n, max: 2n ** 64n - 1n }

function bad(where: string, message: string): StmpError {
  return new StmpError('BAD_PAYLOAD', `${where}: ${message}`)
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

/** Check a JSON object against a message type; returns the object fromObject should get. */
function checkMessage(type: protobuf.Type, value: unknown, where: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw bad(where, `${type.fullName.slice(1)} must be a JSON object`)
  // No prototype: a JSON key such as `__proto__` or `toString` must be data, never inherited.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  const oneofSeen = new Map<string, string>()
  for (const [key, v] of Object.entries(value)) {
    const field = Object.hasOwn(type.fields, key) ? type.fields[key] : findByJsonName(type, key)
    const at = `${where}.${key}`
    if (field === undefined) throw bad(at, `no field "${key}" in ${type.fullName.slice(1)}`)
    // null is "not set", as in protobuf's JSON mapping.
    if (v === null) continue
    if (field.partOf !== null) {
      const other = oneofSeen.get(field.partOf.name)
      if (other !== undefined) throw bad(at, `oneof ${field.partOf.name} already set by ${other}`)
      oneofSeen.set(field.partOf.name, field.name)
    }
    out[field.name] = checkField(field, v, at)
  }
  return out
}

function findByJsonName(type: protobuf.Type, key: string): protobuf.Field | undefined {
  return type.fieldsArray.find((f) => protobuf.util.camelCase(f.name) === key)
}

function checkField(field: protobuf.Field, v: unknown, at: string): unknown {
  if (field instanceof protobuf.MapField) {
    if (!isPlainObject(v)) throw bad(at, 'a map must be a JSON object')
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>
    for (const [k, item] of Object.entries(v)) {
      checkMapKey(field.keyType, k, `${at}[${JSON.stringify(k)}]`)
      out[k] = checkValue(field, item, `${at}[${JSON.stringify(k)}]`)
    }
    return out
  }
  if (field.repeated) {
    if (!Array.isArray(v)) throw bad(at, `a repeated ${field.type} must be a JSON array`)
    return v.map((item, i) => checkValue(field, item, `${at}[${i}]`))
  }
  return checkValue(field, v, at)
}

function checkMapKey(keyType: string, key: string, at: string): void {
  if (keyType === 'string') return
  if (keyType === 'bool') {
    if (key !== 'true' && key !== 'false') throw bad(at, 'a bool map key must be "true" or "false"')
    return
  }
  checkScalar(keyType, key, at)
}

function checkValue(field: protobuf.Field, v: unknown, at: string): unknown {
  const resolved = field.resolvedType
  if (resolved instanceof protobuf.Type) return checkMessage(resolved, v, at)
  if (resolved instanceof protobuf.Enum) {
    if (typeof v === 'string') {
      if (!Object.hasOwn(resolved.values, v)) {
        throw bad(at, `"${v}" is not a value of ${resolved.fullName.slice(1)} (${Object.keys(resolved.values).join(', ')})`)
      }
      return v
    }
    // Open enums (proto3): any int32 number is allowed and kept.
    if (typeof v === 'number' && Number.isInteger(v) && v >= INT32.min && v <= INT32.max) return v
    throw bad(at, `${resolved.fullName.slice(1)} must be a value name or an int32 number`)
  }
  return checkScalar(field.type, v, at)
}

function checkScalar(type: string, v: unknown, at: string): unknown {
  switch (type) {
    case 'string':
      if (typeof v !== 'string') throw bad(at, 'string expected')
      return v
    case 'bool':
      if (typeof v !== 'boolean') throw bad(at, 'true or false expected')
      return v
    case 'bytes':
      if (typeof v === 'string') {
        if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(v.replace(/\s+/g, ''))) throw bad(at, 'bytes must be a base64 string')
        return Buffer.from(v, 'base64')
      }
      if (Array.isArray(v) && v.every((b) => Number.isInteger(b) && (b as number) >= 0 && (b as number) <= 255)) {
        return Buffer.from(v as number[])
      }
      throw bad(at, 'bytes must be a base64 string or an array of byte values')
    case 'double':
    case 'float':
      if (typeof v === 'number') return v
      if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return Number(v)
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v)
      throw bad(at, `${type} expected`)
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return checkInt32(v, INT32, type, at)
    case 'uint32':
    case 'fixed32':
      return checkInt32(v, UINT32, type, at)
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return checkInt64(v, INT64, type, at)
    case 'uint64':
    case 'fixed64':
      return checkInt64(v, UINT64, type, at)
  }
  throw bad(at, `unsupported field type ${type}`)
}

function checkInt32(v: unknown, range: { min: number; max: number }, type: string, at: string): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isInteger(n) || n < range.min || n > range.max) {
    throw bad(at, `${type} expected (an integer from ${range.min} to ${range.max})`)
  }
  return n
}

/** A number (a safe integer) or a decimal string; passed on as the decimal string for Long. */
function checkInt64(v: unknown, range: { min: bigint; max: bigint }, type: string, at: string): string {
  let n: bigint | undefined
  if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v)
  else if (typeof v === 'string' && /^-?\d+$/.test(v)) n = BigInt(v)
  if (n === undefined || n < range.min || n > range.max) {
    throw bad(at, `${type} expected (an integer, as a decimal string beyond 2^53)`)
  }
  return n.toString()
}

// ---------------------------------------------------------------------------------------------
// Reflection helpers

function* walk(ns: protobuf.NamespaceBase): Generator<protobuf.ReflectionObject> {
  for (const obj of ns.nestedArray) {
    yield obj
    if (obj instanceof protobuf.Service) yield* obj.methodsArray
    if (obj instanceof protobuf.Namespace || obj instanceof protobuf.Type || obj instanceof protobuf.Service) yield* walk(obj)
  }
}

/** Index a full name under every dotted suffix of at least `minParts` parts. */
function index<T>(map: Map<string, T[]>, fullName: string, obj: T, minParts: number): void {
  const parts = fullName.split('.')
  for (let i = 0; i <= parts.length - minParts; i++) {
    const key = parts.slice(i).join('.')
    const list = map.get(key)
    if (list === undefined) map.set(key, [obj])
    else list.push(obj)
  }
}

/** An exact full name wins over a shorter name that happens to match its suffix. */
function lookup<T extends protobuf.ReflectionObject>(map: Map<string, T[]>, name: string): T[] {
  const list = map.get(name) ?? []
  const exact = list.filter((o) => o.fullName.slice(1) === name)
  return exact.length > 0 ? exact : list
}

/** `/pkg.Service/Method`, `Service/Method` → `pkg.Service.Method`, `Service.Method`. */
function normaliseAction(action: string): string {
  return action.replace(/^\//, '').replace(/\//g, '.')
}

function ambiguous(action: string, found: protobuf.ReflectionObject[]): StmpError {
  return new StmpError('BAD_PAYLOAD', `action "${action}" is ambiguous: ${found.map((o) => o.fullName.slice(1)).join(', ')}; name the package`)
}

function describeFields(type: protobuf.Type, seen: Set<string>): ProtoFieldInfo[] {
  return type.fieldsArray.map((f) => {
    const info: ProtoFieldInfo = {
      name: f.name,
      type: f.resolvedType === null ? f.type : f.resolvedType.fullName.slice(1),
      kind: f.resolvedType instanceof protobuf.Type ? 'message' : f.resolvedType instanceof protobuf.Enum ? 'enum' : 'scalar',
      repeated: f.repeated,
    }
    if (f instanceof protobuf.MapField) info.keyType = f.keyType
    if (f.partOf !== null) info.oneof = f.partOf.name
    if (f.resolvedType instanceof protobuf.Enum) info.values = Object.keys(f.resolvedType.values)
    if (f.resolvedType instanceof protobuf.Type && !seen.has(f.resolvedType.fullName)) {
      info.fields = describeFields(f.resolvedType, new Set([...seen, f.resolvedType.fullName]))
    }
    return info
  })
}

// ---------------------------------------------------------------------------------------------
// Load errors

/** protobufjs parse errors end in `(file, line N)`; file read errors carry `path`. */
function protoError(root: protobuf.Root, err: unknown): StmpError {
  if (err instanceof StmpError) return err
  if (err instanceof Error && /^no such /.test(err.message)) return unresolvedError(root, err)
  const e = err as NodeJS.ErrnoException
  if (e.code === 'ENOENT' || e.code === 'EISDIR' || e.code === 'EACCES') {
    return new StmpError('BAD_PROTO', `${e.path ?? 'a .proto file'}: cannot read (${e.code})`, { cause: err })
  }
  const message = e instanceof Error ? e.message : String(err)
  const m = /^(.*) \((.+), line (\d+)\)$/.exec(message)
  if (m !== null) return new StmpError('BAD_PROTO', `${m[2]}:${m[3]}: ${m[1]}`, { cause: err })
  return new StmpError('BAD_PROTO', `cannot load the .proto files: ${message}`, { cause: err })
}

/**
 * resolveAll() says "no such type: X" without the file; find the field or method that names
 * it, and its line, so the user sees `file:line`.
 */
function unresolvedError(root: protobuf.Root, err: unknown): StmpError {
  const message = err instanceof Error ? err.message : String(err)
  for (const obj of walk(root)) {
    const refs: Array<{ obj: protobuf.ReflectionObject; typeName: string }> = []
    if (obj instanceof protobuf.Type) for (const f of obj.fieldsArray) refs.push({ obj: f, typeName: f.type })
    if (obj instanceof protobuf.Method) refs.push({ obj, typeName: obj.requestType }, { obj, typeName: obj.responseType })
    for (const ref of refs) {
      if (SCALARS.has(ref.typeName)) continue
      const parent = ref.obj.parent
      if (parent === null || parent.lookup(ref.typeName) !== null) continue
      const file = ref.obj.filename ?? parent.filename
      const line = file === null || file === undefined ? undefined : lineOf(file, (l) => new RegExp(`\\b${escapeRe(ref.typeName)}\\b`).test(l) && l.includes(ref.obj.name))
      const where = file === null || file === undefined ? '' : `${file}${line === undefined ? '' : `:${line}`}: `
      return new StmpError('BAD_PROTO', `${where}unknown type ${ref.typeName} in ${ref.obj.fullName.slice(1)}`, { cause: err })
    }
  }
  return new StmpError('BAD_PROTO', `cannot resolve the .proto files: ${message}`, { cause: err })
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

function lineOf(file: string, match: (line: string) => boolean): number | undefined {
  try {
    const lines = readFileSync(file, 'utf8').split('\n')
    const i = lines.findIndex(match)
    return i < 0 ? undefined : i + 1
  } catch {
    return undefined
  }
}
