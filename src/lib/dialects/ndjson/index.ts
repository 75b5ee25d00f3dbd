import type { Dialect } from '../types.js'
import { capture } from './capture.js'
import { NdjsonWire } from './wire.js'

/**
 * ndjson: a small request/response protocol, one JSON object per line (docs/dialects.md). It is
 * here to show that a dialect is one folder: nothing outside it names it.
 */
export const dialect: Dialect = {
  name: 'ndjson',
  title: 'NDJSON RPC',
  summary: 'one JSON object per line: {"id","action","payload"} requests, {"id","status","payload"} responses, pushes, ping/pong, close',
  schemes: ['tcp', 'tls', 'unix', 'ws', 'wss'],
  features: {
    requests: true, pushes: true, ping: true, headers: false, rooms: false, acks: false,
    transactions: false, typedBuffers: false, fragmentation: false, textFormat: false,
  },
  flags: [],
  idSpace: 0xffff,
  contentTypes: ['application/json'],
  open: (context) => new NdjsonWire(context),
  capture,
}
