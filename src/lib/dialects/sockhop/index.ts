import type { Dialect } from '../types.js'
import { capture } from './capture.js'
import { SockhopWire, checkOptions } from './wire.js'

/**
 * Sockhop (npm `sockhop`): 1.x JSON mode, newline-delimited `{"type","data"}` envelopes, callbacks
 * by UUID, SockhopPing/SockhopPong; 2.x's handshake and binary mode, per direction
 * (docs/dialects/sockhop.md).
 */
export const dialect: Dialect = {
  name: 'sockhop',
  title: 'Sockhop',
  summary: 'Sockhop IPC (npm sockhop 1.8, git 2.1): newline-delimited {"type","data"} JSON envelopes, callbacks by UUID, SockhopPing/Pong; 2.x handshake and binary frames; no close message',
  schemes: ['tcp', 'tls', 'unix'],
  features: {
    requests: true, pushes: true, ping: true, headers: false, rooms: false, acks: false,
    transactions: false, typedBuffers: true, fragmentation: false, textFormat: false,
  },
  flags: ['terminator', 'version', 'binary', 'stream'],
  idSpace: 0xffff,
  contentTypes: ['application/json'],
  checkOptions,
  open: (context) => new SockhopWire(context),
  capture,
}
