/**
 * One error type for the whole tool, and the one table that maps error codes to exit codes.
 *
 * Every error that can reach a user carries a stable `code` (documented in README.md and
 * docs/exit-codes.md) and the exit code the CLI ends with. Commands never call process.exit:
 * `src/lib/cli/base-command.ts` (StmpCommand.catch) turns a thrown StmpError into a message on stderr
 * (or a JSON envelope with --json) and the exit code below.
 */

/** Exit codes, the same for every command (README "Exit codes"). */
export const ExitCode = {
  OK: 0,
  /** A bug: an exception that is not a StmpError. */
  INTERNAL: 1,
  /** Bad flag, argument, URL, file or input that cannot be read. */
  USAGE: 2,
  /** Cannot connect, or the handshake was refused. */
  CONNECT: 3,
  /** A request or the connection timed out. */
  TIMEOUT: 4,
  /** A protocol error on the wire, or in input given to `decode`. */
  PROTOCOL: 5,
  /** The server answered with a 4xx status. */
  STATUS_4XX: 6,
  /** The server answered with a 5xx status. */
  STATUS_5XX: 7,
  /** `bench`: an SLO gate failed, or no request succeeded. */
  SLO: 8,
  /** `bench` stopped by SIGINT (Ctrl-C): the partial report was printed (128 + 2, as a shell reports it). */
  INTERRUPTED: 130,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

export interface StmpErrorOptions {
  /** Byte offset in the input where the offending frame starts (protocol errors). */
  offset?: number
  /** The WebSocket-style close code a live connection should send for this error. */
  closeCode?: number
  /** The exit code; derived from the code's family when absent. */
  exitCode?: ExitCode
  /** A response status, for errors that carry one (handshake refused, 4xx/5xx). */
  status?: number
  cause?: unknown
}

/** Codes of the usage family (exit 2). */
const USAGE_CODES = new Set([
  'USAGE', 'BAD_URL', 'BAD_FLAG', 'BAD_INPUT', 'BAD_FILE', 'BAD_PAYLOAD', 'BAD_PROTO', 'BAD_ROUTES', 'BAD_HANDLER', 'BAD_CAPTURE', 'OUTPUT_FAILED',
])
const CONNECT_CODES = new Set(['CONNECT_FAILED', 'HANDSHAKE_REFUSED', 'CONNECTION_CLOSED', 'CONNECTION_RESET', 'CONNECTIONS_LOST'])
const TIMEOUT_CODES = new Set(['TIMEOUT', 'HANDSHAKE_TIMEOUT', 'PING_TIMEOUT'])

export function exitCodeFor(code: string, status?: number): ExitCode {
  if (USAGE_CODES.has(code)) return ExitCode.USAGE
  if (CONNECT_CODES.has(code)) return ExitCode.CONNECT
  if (TIMEOUT_CODES.has(code)) return ExitCode.TIMEOUT
  if (code === 'STATUS') {
    if (status !== undefined && status >= 500) return ExitCode.STATUS_5XX
    return ExitCode.STATUS_4XX
  }
  if (code === 'SLO_FAILED' || code === 'NO_SUCCESS') return ExitCode.SLO
  if (code === 'INTERRUPTED') return ExitCode.INTERRUPTED
  if (code === 'INTERNAL') return ExitCode.INTERNAL
  // Everything else is a wire/protocol code (BAD_LENGTH, TRUNCATED, ... see codec/errors.ts).
  return ExitCode.PROTOCOL
}

export class StmpError extends Error {
  readonly code: string
  readonly offset?: number
  readonly closeCode?: number
  readonly status?: number
  readonly exitCode: ExitCode

  constructor(code: string, message: string, options: StmpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'StmpError'
    this.code = code
    this.offset = options.offset
    this.closeCode = options.closeCode
    this.status = options.status
    this.exitCode = options.exitCode ?? exitCodeFor(code, options.status)
  }

  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { code: this.code, message: this.message }
    if (this.offset !== undefined) out.offset = this.offset
    if (this.status !== undefined) out.status = this.status
    return out
  }
}

export function isStmpError(err: unknown): err is StmpError {
  return err instanceof StmpError
}

/** A StmpError as it crosses postMessage to or from a worker thread (class identity does not survive structured clone). */
export interface SerializedError {
  code: string
  message: string
  offset?: number
  status?: number
  exitCode?: number
  /** Where an unexpected (INTERNAL) error was thrown, in the thread that threw it. */
  stack?: string
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof StmpError) return { code: err.code, message: err.message, offset: err.offset, status: err.status, exitCode: err.exitCode }
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined }
}

export function deserializeError(e: SerializedError): StmpError {
  const err = new StmpError(e.code, e.message, { offset: e.offset, status: e.status, exitCode: e.exitCode as ExitCode | undefined })
  if (e.stack !== undefined) err.stack = e.stack
  return err
}

/**
 * A dialect's finding about the peer's bytes: the session closes the connection with `closeCode`
 * (stmpcat close codes, WebSocket's numbers) and `closeMessage()` as the reason. `kind` and
 * `messageId`: the message it was in, when known (an oversized request is answered 413 first).
 */
export class WireError extends StmpError {
  declare readonly closeCode: number
  declare readonly offset: number
  readonly kind?: string
  readonly messageId?: number

  constructor(code: string, message: string, offset: number, details: { closeCode?: number; kind?: string; messageId?: number } = {}) {
    super(code, message, { offset, closeCode: details.closeCode ?? (code === 'TOO_LARGE' ? 1009 : 1002) })
    this.name = 'WireError'
    this.kind = details.kind
    this.messageId = details.messageId
  }

  /** Text for the Close: names the code and the byte. */
  closeMessage(): string {
    return `${this.code} at byte ${this.offset}: ${this.message}`
  }
}
