import type { CaptureDecoder, CaptureSupport, DecodedFrame, SniffInput } from '../types.js'
import { LineSplitter } from '../../codec/lines.js'
import { decodeMessage } from './codec.js'
import { traceOf } from './wire.js'

const MAX_LINE = 16 * 1024 * 1024

/** A line that decodes as an ndjson message (a JSON object with one of its keys). */
function looksLikeMessage(bytes: Buffer | undefined): boolean {
  if (bytes === undefined || bytes.length === 0 || bytes[0] !== 0x7b) return false
  const nl = bytes.indexOf(0x0a)
  try {
    decodeMessage(nl === -1 ? bytes : bytes.subarray(0, nl), 0)
    return true
  } catch {
    return false
  }
}

export const capture: CaptureSupport = {
  sniff(first: SniffInput) {
    const client = looksLikeMessage(first.client)
    const server = looksLikeMessage(first.server)
    if (client && (server || first.server === undefined)) return 2
    return client || server ? 1 : 0
  },
  decoder(context) {
    const decoder: CaptureDecoder = {
      write(data, offset) {
        if (context.framing === 'websocket') return emit(data, offset)
        lines.feed(data, offset, decoder.onError)
      },
      end(reason) {
        lines.end(reason, decoder.onError)
      },
    }
    const emit = (line: Buffer, offset: number) => {
      try {
        const frame = { ...(traceOf(decodeMessage(line, offset)) as DecodedFrame), offset, length: line.length + (context.framing === 'stream' ? 1 : 0) }
        decoder.onFrame?.(frame)
      } catch (err) {
        decoder.onError?.({ code: (err as { code?: string }).code ?? 'BAD_MESSAGE', message: (err as Error).message, offset, bytes: line })
      }
    }
    const lines = new LineSplitter(MAX_LINE, emit)
    return decoder
  },
}
