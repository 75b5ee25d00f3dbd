import type { Dialect } from '../dialects/types.js'
import { StmpError } from '../errors.js'
import type { IncomingPush, ResponseInfo, Session } from '../session/index.js'

/**
 * `fetch --wait-reply`, for a dialect without request/response whose ACK is the response (CAMP):
 * after the ACK of the request, the next message the server sends on its own (a push: CAMP's
 * UTF8DATA or BINARYDATA, or a finished transaction) is the reply. Only what arrives after the
 * ACK counts (the ACK callback runs synchronously, before any message read behind it).
 */
export function checkWaitReply(dialect: Dialect): void {
  if (!dialect.features.acks) {
    throw new StmpError('BAD_FLAG', `--wait-reply: ${dialect.title} answers requests itself (the flag is for dialects whose ACK is the response: camp)`)
  }
}

export interface Exchange {
  response: ResponseInfo
  /** The server's next message after the ACK (undefined when the response was not a 2xx). */
  reply?: IncomingPush
}

/**
 * Sends the request and, when its response is a 2xx, waits up to what is left of `timeout`
 * (ms, from the send) for the next push: TIMEOUT (exit 4) when none comes.
 */
export function requestAndWaitReply(session: Session, action: string, payload: Buffer, timeout: number): Promise<Exchange> {
  return new Promise<Exchange>((resolve, reject) => {
    const started = performance.now()
    let acked: ResponseInfo | undefined
    let timer: NodeJS.Timeout | undefined
    const previous = session.onPush
    let finished = false
    const done = (error: Error | null, exchange?: Exchange) => {
      if (finished) return
      finished = true
      if (timer !== undefined) clearTimeout(timer)
      session.onPush = previous
      if (error !== null) reject(error)
      else resolve(exchange as Exchange)
    }
    session.onPush = (push) => {
      if (acked !== undefined) return done(null, { response: acked, reply: push })
      previous?.(push)
    }
    session.call(action, payload, (error, response) => {
      if (error !== null) return done(error)
      const r = response as ResponseInfo
      if (r.status < 200 || r.status > 299) return done(null, { response: r })
      acked = r
      const left = Math.max(1, timeout - (performance.now() - started))
      timer = setTimeout(() => done(new StmpError('TIMEOUT', `no data frame from the server within ${timeout} ms of sending (the request was acknowledged after ${r.elapsed.toFixed(1)} ms)`)), left)
    }, { timeout })
    // The session closing ends the wait (the peer's BYE, a dropped connection).
    void session.closed.then((info) => {
      if (acked !== undefined) done(new StmpError('CONNECTION_CLOSED', `the server closed the connection (${info.code}${info.message ? ` ${info.message}` : ''}) before sending a reply after the ACK`))
    })
  })
}
