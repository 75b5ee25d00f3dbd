import type { Dialect } from '../types.js'
import { capture } from './capture.js'
import { StockingWire } from './wire.js'

/**
 * Stocking (afterwind-io/stocking, HEAD ffdfa38): a small Go WebSocket framework whose text
 * messages are `type,ccode,content` (wire notes §2, docs/dialects/stocking.md).
 */
export const dialect: Dialect = {
  name: 'stocking',
  title: 'Stocking',
  summary: 'afterwind-io/stocking (Go, WebSocket): text messages type,ccode,content; {"e","p"} requests with a callback code, {"c","p"} answers, rooms',
  schemes: ['ws', 'wss'],
  features: {
    requests: true, pushes: true, ping: true, headers: false, rooms: true, acks: false,
    transactions: false, typedBuffers: false, fragmentation: false, textFormat: false,
  },
  flags: [],
  idSpace: 0xffff,
  statuses: [
    { wire: 'c -1', status: 200, name: 'success' },
    { wire: '(empty content)', status: 200, name: 'success, nothing returned' },
    { wire: 'c 0', status: 500, name: 'error (the default RouterError code)' },
    { wire: 'c 404 (any of 400..599)', status: 404, name: 'that status (two stmpcat ends keep 4xx/5xx)' },
    { wire: 'c other', status: 500, name: 'error (a RouterError with its own code)' },
    { wire: '1,<ccode>,<text>', status: 500, name: 'Error message for a pending callback code' },
  ],
  contentTypes: ['application/json'],
  // Each client is in a channel named by its decimal id; a broadcast to no channel is an Error (wire notes §2).
  rooms: { own: (n) => String(n), missing: true },
  open: (context) => new StockingWire(context),
  decideUpgrade: (_request, policy) => (policy.shuttingDown ? { status: 503, message: 'shutting down' } : { status: 200, message: 'OK' }),
  capture,
}
