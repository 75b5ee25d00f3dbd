import { createRequire } from 'node:module'
import { StmpError } from '../../errors.js'
import type { ProtoRegistry } from '../../payload/protobuf.js'
import { type ActionId, actionName, parseActionId } from './codec.js'

/**
 * stmp-go's action ids (protoc-gen-stmp/generator.go parseMethod): a method's full name is
 * `package.UpFirst(Service).UpFirst(Method)`; its action is `(service << 8) | method` when the
 * service has `option (stmp.service)` and the method `option (stmp.method)` (stmp/stmp.proto),
 * else `murmur3.Sum32(fullName)` (seed 0, over the UTF-8 bytes). A service whose name ends in
 * `Events` (or whose `(stmp.kind)` says events) is what the server pushes: Notify packets.
 *
 * stmp-go's runtime replaces an action of 0 by murmur3.Sum128 | 1<<63 (router.go
 * RegisterMethodAction); the generator never gives 0 in practice (a Sum32 of exactly 0, or
 * service 0 and method 0), and that case is not reproduced here.
 */

export interface ActionEntry {
  method: string
  action: ActionId
  /** The method is in an ...Events service (the server pushes it). */
  events: boolean
}

export interface ActionTable {
  byMethod: Map<string, ActionEntry>
  /** By actionName() (`0x1234`). */
  byAction: Map<string, ActionEntry>
}

type Murmur = (key: string, seed?: number) => { result(): number }
let murmur: Murmur | undefined

/** murmur3 32-bit (x86), seed 0, of the UTF-8 bytes of `text`: Go's murmur3.Sum32 (twmb/murmur3). */
export function murmur3Sum32(text: string): number {
  murmur ??= createRequire(import.meta.url)('imurmurhash') as Murmur
  // imurmurhash hashes char codes: one char per UTF-8 byte makes it hash the bytes.
  return murmur(Buffer.from(text, 'utf8').toString('latin1'), 0).result() >>> 0
}

export function upFirst(s: string): string {
  return s.length > 0 && s[0] >= 'a' && s[0] <= 'z' ? s[0].toUpperCase() + s.slice(1) : s
}

/** The action of one method as the generator computes it. */
export function methodAction(fullMethod: string, serviceId?: number | bigint, methodId?: number | bigint): ActionId {
  if (serviceId !== undefined && methodId !== undefined) {
    const v = (BigInt(serviceId) << 8n) | BigInt(methodId)
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
  }
  return murmur3Sum32(fullMethod)
}

interface ProtoObject {
  name: string
  fullName: string
  parent: ProtoObject | null
  options?: Record<string, unknown>
  nestedArray?: ProtoObject[]
  methods?: Record<string, ProtoObject>
}

/** The table of every method of every service in the loaded .proto files. */
export function actionTable(registry: ProtoRegistry): ActionTable {
  const table: ActionTable = { byMethod: new Map(), byAction: new Map() }
  const visit = (ns: ProtoObject) => {
    for (const obj of ns.nestedArray ?? []) {
      if (obj.methods !== undefined) addService(table, obj)
      if (obj.nestedArray !== undefined) visit(obj)
    }
  }
  visit(registry.root as unknown as ProtoObject)
  return table
}

function addService(table: ActionTable, service: ProtoObject): void {
  const pkg = service.parent?.fullName.replace(/^\./, '') ?? ''
  const serviceName = upFirst(service.name)
  const serviceId = optionId(service.options, 'service')
  const kind = service.options?.['(stmp.kind)'] as { events?: boolean; service?: boolean } | undefined
  const events = kind?.events ?? (!serviceName.endsWith('Service') && serviceName.endsWith('Events'))
  for (const m of Object.values(service.methods ?? {})) {
    const method = `${pkg}.${serviceName}.${upFirst(m.name)}`
    const action = methodAction(method, serviceId, optionId(m.options, 'method'))
    const entry: ActionEntry = { method, action, events }
    table.byMethod.set(method, entry)
    const key = actionName(action)
    const other = table.byAction.get(key)
    // The generator's Go output panics at init on this ("duplicated Action").
    if (other && other.method !== method) throw new StmpError('BAD_PROTO', `methods ${other.method} and ${method} have the same stmp-go action ${key}`)
    table.byAction.set(key, entry)
  }
}

function optionId(options: Record<string, unknown> | undefined, name: string): number | bigint | undefined {
  const v = options?.[`(stmp.${name})`]
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v
  if (typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v)) return BigInt(v)
  if (v !== null && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number }
    return (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0)
  }
  return undefined
}

/** What goes in a Request or Notify for `action`: a numeric id, a method the table knows, or the method itself (SA). */
export function resolveAction(action: string, table?: ActionTable): { action: ActionId } | { method: string } {
  const id = parseActionId(action)
  if (id !== undefined) return { action: id }
  const hit = table?.byMethod.get(action.replace(/^\//, '').replace('/', '.'))
  if (hit) return { action: hit.action }
  return { method: action }
}

/** The session's name of a numeric action: the method the table gives it, else `0x1234`. */
export function nameOfAction(action: ActionId, table?: ActionTable): string {
  const key = actionName(action)
  return table?.byAction.get(key)?.method ?? key
}
