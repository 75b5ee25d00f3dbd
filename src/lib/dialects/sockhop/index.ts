import type { Dialect } from '../types.js'
import { capture } from './capture.js'
import { SockhopWire } from './wire.js'

/**
 * Sockhop (npm `sockhop`) 1.x JSON mode: newline-delimited `{"type","data"}` envelopes, callbacks
 * by UUID, SockhopPing/SockhopPong (docs/dialects/sockhop.md). The 2.x binary mode is not here yet.
 */
export const dialect: Dialect = {
  name: 'sockhop',
  title: 'Sockhop 1.x',
  summary: 'Sockhop IPC (npm sockhop 1.8): newline-delimited {"type","data"} JSON envelopes, callbacks by UUID, SockhopPing/Pong; no close message',
  schemes: ['tcp', 'tls', 'unix'],
  features: {
    requests: true, pushes: true, ping: true, headers: false, rooms: false, acks: false,
    transactions: false, typedBuffers: false, fragmentation: false, textFormat: false,
  },
  flags: ['terminator'],
  idSpace: 0xffff,
  contentTypes: ['application/json'],
  open: (context) => new SockhopWire(context),
  capture,
}
