import type { Format, Limits } from '../codec/index.js'
import { DEFAULT_FRAGMENT_SIZE, DEFAULT_LIMITS } from '../codec/index.js'

export interface SessionOptions {
  /** Client or server: who sends the handshake (wire notes §8). The rest is symmetric. */
  role: 'client' | 'server'
  /** The format this side starts frames in on WebSocket (wire notes §1); streams are binary. */
  format: Format
  /** Responses carry the latency field (negotiated in the handshake). */
  serverLatency: boolean
  limits: Limits
  /** Largest frame this side sends on a stream before fragmenting (bytes of LENGTH). */
  fragmentSize: number
  /** Per-request timeout in ms; 0 waits forever (never the default). */
  requestTimeout: number
  /** Requests this side may have in flight; more wait for a slot (wire notes §6). */
  maxInFlight: number
  /** Requests waiting for a slot before request() fails with BACKPRESSURE. */
  maxQueued: number
  /** Requests from the peer being handled at once; past it the session stops reading. */
  maxIncoming: number
  /** Bytes queued on the transport past which the session stops reading from the peer. */
  highWaterMark: number
  /** Keep-alive ping interval in ms (0: off). */
  keepalive: number
  /** Close when a ping gets no answer within this many ms. */
  pingTimeout: number
  /** How long close() waits for the peer's Close (once everything before it is sent) before cutting the transport. */
  closeTimeout: number
  /**
   * While closing, how long the frames queued before the Close may go without any progress
   * (the peer reading nothing) before the transport is cut and the close reports them unsent.
   */
  flushTimeout: number
}

export const DEFAULT_SESSION_OPTIONS: SessionOptions = {
  role: 'client',
  format: 'binary',
  serverLatency: false,
  limits: DEFAULT_LIMITS,
  fragmentSize: DEFAULT_FRAGMENT_SIZE,
  requestTimeout: 30_000,
  maxInFlight: 65_535,
  maxQueued: 100_000,
  maxIncoming: 1024,
  highWaterMark: 1024 * 1024,
  keepalive: 0,
  pingTimeout: 10_000,
  closeTimeout: 1000,
  flushTimeout: 10_000,
}
