import { encodeFrame, lengthSize, writeTextNumber, type Frame } from '../../codec/index.js'
import type { RequestTemplate, TemplateContext, TemplateSupport } from '../types.js'

/** Head byte of an unfragmented binary Response (kind 3 in the high nibble, docs/protocol.md §3). */
const RESPONSE_HEAD = 0x30
/** Room for the head, id and action length that fragmentation decides on (as the Wire does). */
const FRAGMENT_MARGIN = 64

/**
 * bench's fast path in STMP v3: the request frame encoded once; a send patches its 2-byte
 * MESSAGE ID (binary) or its three id characters (text, §5); responses are found by their head
 * byte and 1-byte LENGTH without a frame object.
 */
export const template: TemplateSupport = {
  build(action: string, payload: Buffer, context: TemplateContext): RequestTemplate | undefined {
    const websocket = context.framing === 'websocket'
    // A message the Wire would fragment goes through the Wire (§7).
    if (!websocket && payload.length + FRAGMENT_MARGIN > context.fragmentSize) return undefined
    const text = websocket && context.options.format === 'text'
    const serverLatency = context.options.serverLatency === true
    const frame: Frame = { kind: context.kind, id: 0, action, payload, follow: false, fin: false }
    const bytes = encodeFrame(frame, { format: text ? 'text' : 'binary', framing: context.framing, serverLatency })
    // Streams: LENGTH (k bytes for a body of length - k), then the head byte, then the id.
    let k = 0
    if (!websocket) do k++; while (lengthSize(bytes.length - k) !== k)
    const idAt = k + 1
    const shortest = serverLatency ? 7 : 5
    return {
      bytes,
      text,
      patch: text
        ? (f, pos, id) => writeTextNumber(f, pos + 1, id)
        : (f, pos, id) => {
            f[pos + idAt] = id >> 8
            f[pos + idAt + 1] = id & 0xff
          },
      scan(data, start, end, onResponse) {
        let pos = start
        while (pos < end) {
          const length = data[pos]
          if (length >= 0x80 || length < shortest || pos + 1 + length > end || data[pos + 1] !== RESPONSE_HEAD) return pos
          onResponse((data[pos + 2] << 8) | data[pos + 3], (data[pos + 4] << 8) | data[pos + 5])
          pos += 1 + length
        }
        return pos
      },
    }
  },
}
