import type { CaptureDecoder, CaptureSupport, DecodedFrame, SniffInput } from '../types.js'
import { LineSplitter } from '../../codec/lines.js'
import { decodeEnvelope } from './codec.js'
import { traceOf } from './wire.js'

const MAX_LINE = 16 * 1024 * 1024

/** The first line is a Sockhop envelope: a JSON object with "type" and "data". */
function looksLikeSockhop(bytes: Buffer | undefined): boolean {
  if (bytes === undefined || bytes.length === 0 || bytes[0] !== 0x7b) return false
  const nl = bytes.indexOf(0x0a)
  try {
    const o = JSON.parse((nl === -1 ? bytes : bytes.subarray(0, nl)).toString('utf8')) as Record<string, unknown>
    return typeof o.type === 'string' && 'data' in o
  } catch {
    return false
  }
}

export const capture: CaptureSupport = {
  sniff(first: SniffInput) {
    if (first.framing !== 'stream') return 0
    const client = looksLikeSockhop(first.client)
    const server = looksLikeSockhop(first.server)
    if (client && (server || first.server === undefined)) return 2
    return client || server ? 1 : 0
  },
  decoder() {
    const decoder: CaptureDecoder = {
      write(data, offset) {
        lines.feed(data, offset, decoder.onError)
      },
      end(reason) {
        lines.end(reason, decoder.onError)
      },
    }
    const lines = new LineSplitter(MAX_LINE, (line, offset) => {
      try {
        decoder.onFrame?.({ ...(traceOf(decodeEnvelope(line, offset)) as DecodedFrame), offset, length: line.length + 1 })
      } catch (err) {
        decoder.onError?.({ code: (err as { code?: string }).code ?? 'BAD_MESSAGE', message: (err as Error).message, offset, bytes: line })
      }
    })
    return decoder
  },
}
