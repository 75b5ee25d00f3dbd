import { WireError } from '../errors.js'
import type { Kind } from './types.js'

/**
 * Protocol error codes (shared/conformance/README.md). Stable: tests and users match on them.
 */
export const ProtocolErrorCode = {
  BAD_LENGTH: 'BAD_LENGTH',
  TRUNCATED: 'TRUNCATED',
  SHORT_FRAME: 'SHORT_FRAME',
  RESERVED_BIT: 'RESERVED_BIT',
  BAD_KIND: 'BAD_KIND',
  NO_ACTION_END: 'NO_ACTION_END',
  EMPTY_ACTION: 'EMPTY_ACTION',
  BAD_NUMBER: 'BAD_NUMBER',
  BAD_FRAGMENT: 'BAD_FRAGMENT',
  TOO_LARGE: 'TOO_LARGE',
  BAD_UTF8: 'BAD_UTF8',
} as const
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode]

export interface ProtocolErrorDetails {
  /** Kind and id of the offending frame when they could be read (a 413 needs the id, §10). */
  kind?: Kind
  messageId?: number
  closeCode?: number
}

/**
 * A protocol error: its code, the byte offset where the offending frame starts (its LENGTH byte
 * on a stream), and the Close code a live connection should send (1002, or 1009 for TOO_LARGE).
 */
export class StmpProtocolError extends WireError {
  declare readonly code: ProtocolErrorCode
  declare readonly kind?: Kind

  constructor(code: ProtocolErrorCode, message: string, offset: number, details: ProtocolErrorDetails = {}) {
    super(code, message, offset, details)
    this.name = 'StmpProtocolError'
  }

  override toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, offset: this.offset }
  }
}

