import { StmpError } from '../errors.js'
import { type CloseInfo, type Session, unsentError } from './session.js'

/**
 * One logical connection that outlives its sessions (Sockhop's auto-reconnect): dial, and when
 * the session drops (or the first dial is refused) dial again with exponential backoff and
 * full jitter, a bounded number of times. The layer above sees one `ready()` promise that
 * resolves to the open session of the moment, and events to report what happened.
 */

export interface ReconnectPolicy {
  /** Re-dial at all; off: the first failure or drop ends the link. */
  enabled: boolean
  /** Failed dials in a row before giving up (0: never give up). */
  attempts: number
  /** Delay before the first re-dial, in ms; doubles each attempt. */
  initialDelay: number
  /** Upper bound of the delay, in ms. */
  maxDelay: number
}

export const DEFAULT_RECONNECT: ReconnectPolicy = { enabled: false, attempts: 10, initialDelay: 100, maxDelay: 5000 }

/**
 * Delay before re-dial number `attempt` (1-based): base = min(maxDelay, initial * 2^(attempt-1)),
 * then "equal jitter": half fixed, half random, so a fleet of clients does not re-dial in step
 * but no delay collapses to zero.
 */
export function backoffDelay(attempt: number, policy: ReconnectPolicy, random: () => number = Math.random): number {
  const base = Math.min(policy.maxDelay, policy.initialDelay * 2 ** Math.min(attempt - 1, 30))
  return Math.round(base / 2 + random() * (base / 2))
}

/**
 * Whether a dial error is worth another try: refused connections, resets, timeouts and a
 * server that is shutting down (503) are; a handshake the server refused for what we sent
 * (400 bad version or content type, 401 bad credentials) will be refused again.
 */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof StmpError)) return false
  if (err.code === 'HANDSHAKE_REFUSED') return err.status === undefined || err.status >= 500
  return err.code !== 'BAD_URL' && err.code !== 'BAD_FLAG' && err.exitCode !== 2
}

export interface LinkEvents {
  /** Called with each new session before its handshake (set onPush/onRequest here: a server may push at once). */
  prepare?(session: Session): void
  /** A session is open (attempt 0: the first dial worked; else the dial that worked). */
  onOpen?(session: Session, info: { reconnected: boolean; attempt: number }): void
  /** The open session dropped (not closed by us). */
  onDrop?(info: CloseInfo): void
  /** A dial failed (or the session dropped) and the link will dial again after `delay` ms. */
  onRetry?(info: { attempt: number; delay: number; error: StmpError }): void
  /** The link gave up for good (`error` says why). */
  onFail?(error: StmpError): void
}

export type LinkState = 'connecting' | 'open' | 'waiting' | 'closed' | 'failed'

export class Link {
  state: LinkState = 'connecting'
  current?: Session
  /** Why the link failed for good (state 'failed'). */
  error?: StmpError
  /** Set when close() could not send every frame queued before the Close (also `error`, state 'failed'). */
  closeError?: StmpError
  /** Sessions opened so far. */
  opened = 0
  private attempt = 0
  private readyPromise!: Promise<Session>
  private resolveReady!: (s: Session) => void
  private rejectReady!: (e: StmpError) => void
  private timer?: NodeJS.Timeout
  private readonly done: Promise<void>
  private resolveDone!: () => void

  constructor(
    private readonly dial: (prepare: (session: Session) => void) => Promise<Session>,
    private readonly policy: ReconnectPolicy,
    private readonly events: LinkEvents = {},
  ) {
    this.resetReady()
    this.done = new Promise((resolve) => { this.resolveDone = resolve })
    void this.readyPromise.catch(() => undefined)
  }

  /** Starts the first dial. */
  start(): this {
    void this.tryDial()
    return this
  }

  /** The open session; waits through re-dials; rejects once the link failed or was closed. */
  ready(): Promise<Session> {
    return this.readyPromise
  }

  /**
   * An open session to send on: the current one when it is open; when it is closing (the peer's
   * Close came, the transport has not ended yet) the next one, after its close was handled
   * (ready() still holds the closing session until then). Rejects once the link failed or was
   * closed. Never resolves with a session that is not open.
   */
  async openSession(): Promise<Session> {
    let last: Session | undefined
    for (;;) {
      const session = await this.readyPromise
      if (session.state === 'open') return session
      // The same closing session twice means its close was already handled and ready() was
      // not reset: nothing more will come (guards against spinning on a resolved promise).
      if (session === last) throw this.error ?? new StmpError('CONNECTION_CLOSED', `the connection is ${session.state}`)
      last = session
      await session.closed
      // onClosed (registered on `closed` when the session opened, so before this) has run:
      // readyPromise is reset (re-dial) or rejected (failed, closed).
      await Promise.resolve()
    }
  }

  /** Settles once the link is closed by us or failed for good. */
  finished(): Promise<void> {
    return this.done
  }

  /** Stops re-dialling and closes the session of the moment with `code`. */
  async close(code = 1000, message = ''): Promise<void> {
    if (this.state === 'closed' || this.state === 'failed') return
    this.state = 'closed'
    if (this.timer) clearTimeout(this.timer)
    // ready() from now on rejects, also when the session of the moment had resolved it.
    const closed = new StmpError('CONNECTION_CLOSED', 'the connection was closed')
    this.rejectReady(closed)
    this.readyPromise = Promise.reject(closed)
    void this.readyPromise.catch(() => undefined)
    const session = this.current
    if (session && session.state !== 'closed') {
      const info = await session.close(code, message)
      // Frames queued before the close that never went out: the close failed (issue 18).
      if (info.unsent > 0) {
        this.state = 'failed'
        this.error = unsentError(info.unsent, 'what was queued before the close (pushes, replies) did not reach the server')
        this.closeError = this.error
      }
    }
    this.resolveDone()
  }

  private resetReady(): void {
    this.readyPromise = new Promise<Session>((resolve, reject) => {
      this.resolveReady = resolve
      this.rejectReady = reject
    })
    void this.readyPromise.catch(() => undefined)
  }

  private async tryDial(): Promise<void> {
    let session: Session
    try {
      session = await this.dial((s) => this.events.prepare?.(s))
    } catch (err) {
      const error = err instanceof StmpError ? err : new StmpError('CONNECT_FAILED', (err as Error).message, { cause: err })
      this.retryOrFail(error)
      return
    }
    if (this.state === 'closed') {
      void session.close(1000, '')
      return
    }
    const reconnected = this.opened > 0 || this.attempt > 0
    const attempt = this.attempt
    this.attempt = 0
    this.opened++
    this.current = session
    this.state = 'open'
    this.events.onOpen?.(session, { reconnected, attempt })
    this.resolveReady(session)
    void session.closed.then((info) => this.onClosed(session, info))
  }

  private onClosed(session: Session, info: CloseInfo): void {
    if (this.current !== session || this.state === 'closed' || this.state === 'failed') return
    this.state = 'connecting'
    this.resetReady()
    this.events.onDrop?.(info)
    // What ended it, as the session words it: a protocol error, the peer's Close, a drop.
    const error = session.closedError()
    this.retryOrFail(error)
  }

  private retryOrFail(error: StmpError): void {
    if (this.state === 'closed') return
    this.attempt++
    const exhausted = this.policy.attempts > 0 && this.attempt > this.policy.attempts
    if (!this.policy.enabled || exhausted || !isRetryable(error)) {
      this.state = 'failed'
      this.error = error
      this.rejectReady(error)
      this.events.onFail?.(error)
      this.resolveDone()
      return
    }
    const delay = backoffDelay(this.attempt, this.policy)
    this.state = 'waiting'
    this.events.onRetry?.({ attempt: this.attempt, delay, error })
    this.timer = setTimeout(() => {
      this.state = 'connecting'
      void this.tryDial()
    }, delay)
  }
}
