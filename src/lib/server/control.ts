import { createInterface } from 'node:readline'
import { StmpError } from '../errors.js'
import type { StmpServer } from '../session/index.js'
import type { PayloadValues } from './values.js'

/**
 * Lines on stdin drive the server from a script: `{"action": "...", "payload": ..., "to": ...}`
 * pushes to `all` (the default), `room:NAME` or one connection id. A bad line is reported with
 * its number and skipped; the end of stdin does not stop the server.
 */
export interface ControlLine {
  action: string
  payload?: unknown
  to: string | number
}

export function parseControlLine(line: string): ControlLine {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (err) {
    throw new StmpError('BAD_INPUT', `not JSON: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new StmpError('BAD_INPUT', 'expected an object {"action": ..., "payload": ..., "to": ...}')
  const v = value as Record<string, unknown>
  for (const k of Object.keys(v)) if (!['action', 'payload', 'to'].includes(k)) throw new StmpError('BAD_INPUT', `unknown key ${JSON.stringify(k)} (keys: action, payload, to)`)
  if (typeof v.action !== 'string' || v.action === '' || v.action.includes('\n')) throw new StmpError('BAD_INPUT', '"action" must be a non-empty string without newlines')
  const to = v.to ?? 'all'
  if (typeof to === 'number' ? !Number.isInteger(to) : typeof to !== 'string') throw new StmpError('BAD_INPUT', '"to" must be "all", "room:NAME" or a connection id')
  return { action: v.action, payload: v.payload, to: to as string | number }
}

export interface ControlEvents {
  pushed(line: number, count: number, control: ControlLine): void
  error(line: number, error: StmpError): void
}

/** Reads control lines until the stream ends or the returned stop() is called. */
export function readControl(input: NodeJS.ReadableStream, server: StmpServer, values: PayloadValues, events: ControlEvents): () => void {
  const rl = createInterface({ input, terminal: false, crlfDelay: Infinity })
  let n = 0
  rl.on('line', (line) => {
    n++
    if (line.trim() === '') return
    try {
      const control = parseControlLine(line)
      events.pushed(n, values.broadcast(server, control.to, control.action, control.payload), control)
    } catch (err) {
      const error = err instanceof StmpError ? err : new StmpError('BAD_INPUT', (err as Error).message)
      events.error(n, error)
    }
  })
  // stdin gone (closed, or an error reading it) is not a reason to stop serving.
  input.on('error', () => rl.close())
  return () => rl.close()
}
