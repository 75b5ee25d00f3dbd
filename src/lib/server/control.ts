import { createInterface } from 'node:readline'
import { StmpError } from '../errors.js'
import type { StmpServer } from '../session/index.js'
import type { PayloadValues } from './values.js'

/**
 * Lines on stdin drive the server from a script: `{"action": "...", "payload": ..., "to": ...}`
 * pushes to `all` (the default), `room:NAME` or one connection id; `{"wait": N}` holds the
 * lines after it until N connections are open (so `printf ... | serve` reaches a client that
 * connects later). A bad line is reported with its number and skipped; the end of stdin does
 * not stop the server.
 */
export interface ControlLine {
  action: string
  payload?: unknown
  to: string | number
}

export interface WaitLine {
  wait: number
}

export function parseControlLine(line: string): ControlLine | WaitLine {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (err) {
    throw new StmpError('BAD_INPUT', `not JSON: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new StmpError('BAD_INPUT', 'expected an object {"action": ..., "payload": ..., "to": ...} or {"wait": N}')
  const v = value as Record<string, unknown>
  if ('wait' in v) {
    if (Object.keys(v).length !== 1) throw new StmpError('BAD_INPUT', '{"wait": N} has no other keys')
    if (typeof v.wait !== 'number' || !Number.isInteger(v.wait) || v.wait < 1) throw new StmpError('BAD_INPUT', '"wait" must be a number of connections, 1 or more')
    return { wait: v.wait }
  }
  for (const k of Object.keys(v)) if (!['action', 'payload', 'to'].includes(k)) throw new StmpError('BAD_INPUT', `unknown key ${JSON.stringify(k)} (keys: action, payload, to)`)
  if (typeof v.action !== 'string' || v.action === '' || v.action.includes('\n')) throw new StmpError('BAD_INPUT', '"action" must be a non-empty string without newlines')
  const to = v.to ?? 'all'
  if (typeof to === 'number' ? !Number.isInteger(to) : typeof to !== 'string') throw new StmpError('BAD_INPUT', '"to" must be "all", "room:NAME" or a connection id')
  return { action: v.action, payload: v.payload, to: to as string | number }
}

export interface ControlEvents {
  pushed(line: number, count: number, control: ControlLine): void
  error(line: number, error: StmpError): void
  /** Resolves once `count` connections are open (a `{"wait": N}` line). */
  connections(count: number): Promise<void>
}

/** Reads control lines, in order, until the stream ends or the returned stop() is called. */
export function readControl(input: NodeJS.ReadableStream, server: StmpServer, values: PayloadValues, events: ControlEvents): () => void {
  const rl = createInterface({ input, terminal: false, crlfDelay: Infinity })
  let n = 0
  let stopped = false
  // Lines run one after another: a wait line holds the ones behind it (readline buffers them).
  let chain = Promise.resolve()
  rl.on('line', (line) => {
    const number = ++n
    if (line.trim() === '') return
    chain = chain.then(async () => {
      if (stopped) return
      try {
        const control = parseControlLine(line)
        if ('wait' in control) await events.connections(control.wait)
        else events.pushed(number, values.broadcast(server, control.to, control.action, control.payload), control)
      } catch (err) {
        const error = err instanceof StmpError ? err : new StmpError('BAD_INPUT', (err as Error).message)
        events.error(number, error)
      }
    })
  })
  // stdin gone (closed, or an error reading it) is not a reason to stop serving.
  input.on('error', () => rl.close())
  return () => {
    stopped = true
    rl.close()
  }
}
