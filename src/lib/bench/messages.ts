import { StmpError, type ExitCode } from '../errors.js'

/** A StmpError as it crosses postMessage (class identity does not survive structured clone). */
export interface SerializedError {
  code: string
  message: string
  status?: number
  exitCode?: number
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof StmpError) return { code: err.code, message: err.message, status: err.status, exitCode: err.exitCode }
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) }
}

export function deserializeError(e: SerializedError): StmpError {
  return new StmpError(e.code, e.message, { status: e.status, exitCode: e.exitCode as ExitCode | undefined })
}
