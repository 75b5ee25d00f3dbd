import type { HandlerResult, IncomingPush, IncomingRequest, Session, StmpServer } from '../session/index.js'

/**
 * What answers a server's requests and pushes: echo, a routes file, or a handler module.
 * Requests get a status and payload bytes; pushes get no answer (wire notes §5).
 */
export interface Dispatcher {
  request(request: IncomingRequest, session: Session, server: StmpServer): HandlerResult | Promise<HandlerResult>
  push?(push: IncomingPush, session: Session, server: StmpServer): void | Promise<void>
}

/** The default: every request gets 200 with its own payload; pushes are only logged. */
export const echoDispatcher: Dispatcher = {
  request: (request) => ({ status: 200, payload: request.payload }),
}
