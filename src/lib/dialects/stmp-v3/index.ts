import type { Dialect } from '../types.js'
import { capture } from './capture.js'
import { CONTENT_TYPES, clientQuery, decideHandshake } from './negotiation.js'
import { template } from './template.js'
import { StmpV3Wire } from './wire.js'

/** STMP v3 (docs/protocol.md): the default dialect. */
export const dialect: Dialect = {
  name: 'stmp-v3',
  title: 'STMP v3',
  summary: 'the STMP v3 spec with the project\'s wire decisions (docs/protocol.md): LENGTH-prefixed binary frames, text frames on WebSocket',
  schemes: ['tcp', 'tls', 'unix', 'ws', 'wss'],
  features: {
    requests: true, pushes: true, ping: true, headers: false, rooms: false, acks: false,
    transactions: false, typedBuffers: false, fragmentation: true, textFormat: true,
  },
  flags: ['format', 'server-latency', 'token', 'header'],
  idSpace: 0xffff,
  contentTypes: CONTENT_TYPES,
  open: (context) => new StmpV3Wire(context),
  upgrade: clientQuery,
  decideUpgrade: (request, policy) => decideHandshake(request.url, request.headers, policy),
  capture,
  template,
}
