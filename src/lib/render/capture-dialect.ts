import type { DialectLine } from '../capture/dialect.js'
import { frameJson } from '../capture/dialect.js'

/**
 * A line of a connection read in a dialect other than STMP v3 (`decode --dialect NAME`, or a
 * connection `decode` sniffed as another dialect's): one NDJSON object, or the fields of a table
 * row. Every dialect's frames have `kind` and their own fields (types.ts DecodedFrame).
 */
export function dialectLineJson(line: DialectLine, time: string): Record<string, unknown> {
  const body = line.frame ? frameJson(line.frame) : { error: line.error!.code, message: line.error!.message, offset: line.error!.offset }
  return { time, connection: line.connection, direction: line.direction, dialect: line.dialect, ...body }
}

/** The id column, the action/status column and the rest (`key=value` after the dialect's name) of a frame. */
export function dialectRowCells(line: DialectLine): { kind: string; id: string; what: string; rest: string } {
  const { kind, offset: _o, length: _l, id, action, status, ...rest } = frameJson(line.frame!)
  const what = action ?? status ?? rest.type
  if (action === undefined && status === undefined) delete rest.type
  const fields = restFields(rest)
  return { kind: String(kind), id: id === undefined ? '' : String(id), what: what === undefined ? '' : String(what), rest: [`(${line.dialect})`, ...fields].join(' ') }
}

/** `key=value` of a frame's other fields for a text line; a decoded `value` (decode --proto) first, before the bytes. */
export function restFields(rest: Record<string, unknown>): string[] {
  const entries = Object.entries(rest)
  const i = entries.findIndex(([k]) => k === 'value')
  if (i > 0) entries.unshift(...entries.splice(i, 1))
  return entries.map(([k, v]) => `${k}=${JSON.stringify(v)}`)
}
