import type { RequestTemplate, TemplateContext, TemplateSupport } from '../types.js'
import { resolveAction } from './actions.js'
import { encodePacket, encodePacketText, statusOf } from './codec.js'

/** Head bytes of a Response without headers: with a payload (0xc8) or without (0xc0). */
const RESPONSE_PAYLOAD = 0xc8
const RESPONSE_EMPTY = 0xc0
/** stmpcat statuses of the 256 wire statuses, looked up once per response. */
const STATUS = Array.from({ length: 256 }, (_, i) => statusOf(i))

/**
 * bench's fast path in stmp-go: the Request (or Notify) encoded once per connection; a send
 * patches the 2-byte little-endian mid (binary) or its four hex digits (text); on a stream,
 * Responses without headers are found by their head byte, mid, status and payload length
 * without a packet object. No template when the connection is gzip (every byte goes through
 * the deflater: the Wire does it).
 */
export const template: TemplateSupport = {
  build(action: string, payload: Buffer, context: TemplateContext): RequestTemplate | undefined {
    if (context.options.contentEncoding === 'gzip') return undefined
    const websocket = context.framing === 'websocket'
    const text = websocket && (context.options.packetFormat === 'text' || context.options.format === 'text')
    const target = resolveAction(action, undefined)
    if (context.kind === 'push') {
      const p = { kind: 'notify' as const, ...target, payload }
      return { bytes: text ? encodePacketText(p) : encodePacket(p, !websocket), text: false, patch: () => undefined, scan: () => 0 }
    }
    if (text) {
      // Q<mid hex>:...: the mid written as four hex digits (hexParseUint16 reads any width).
      const bytes = encodePacketText({ kind: 'request', mid: 0xffff, ...target, payload })
      return {
        bytes,
        text: false,
        patch(frame, pos, id) {
          for (let i = 0; i < 4; i++) frame[pos + 1 + i] = HEX[(id >> (12 - 4 * i)) & 0xf]
        },
        scan: () => 0,
      }
    }
    const bytes = encodePacket({ kind: 'request', mid: 0, ...target, payload }, !websocket)
    return {
      bytes,
      text: false,
      patch(frame, pos, id) {
        frame[pos + 1] = id & 0xff
        frame[pos + 2] = (id >> 8) & 0xff
      },
      scan(data, start, end, onResponse) {
        let pos = start
        while (pos + 4 <= end) {
          const head = data[pos]
          let next: number
          if (head === RESPONSE_EMPTY) next = pos + 4
          else if (head === RESPONSE_PAYLOAD) {
            // The payload length: a uvarint of at most 3 bytes here (2 MiB); longer goes to the Wire.
            const b0 = pos + 4 < end ? data[pos + 4] : 0x80
            if (b0 < 0x80) next = pos + 5 + b0
            else {
              const b1 = pos + 5 < end ? data[pos + 5] : 0x80
              if (b1 < 0x80) next = pos + 6 + ((b0 & 0x7f) | (b1 << 7))
              else {
                const b2 = pos + 6 < end ? data[pos + 6] : 0x80
                if (b2 >= 0x80) return pos
                next = pos + 7 + ((b0 & 0x7f) | ((b1 & 0x7f) << 7) | (b2 << 14))
              }
            }
          } else return pos
          if (next > end) return pos
          const mid = data[pos + 1] | (data[pos + 2] << 8)
          // mid 0 is stmp-go's answer to a Notify (quirk 2): nothing of bench's.
          if (mid !== 0) onResponse(mid, STATUS[data[pos + 3]])
          pos = next
        }
        return pos
      },
    }
  },
}

const HEX = Buffer.from('0123456789ABCDEF', 'latin1')
