import type { CaptureDecoder, CaptureSupport, DecodedFrame, SniffInput } from '../types.js'
import { LineSplitter } from '../../codec/lines.js'
import { BinaryReader, decodeEnvelope, isBufferId } from './codec.js'
import { binaryTrace, traceOf } from './wire.js'

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

/**
 * Sockhop in captures: JSON lines, and after a SockhopBinaryModeTransition line in a direction,
 * that direction's binary frames (2.x), from the byte after the line's terminator.
 */
export const capture: CaptureSupport = {
  sniff(first: SniffInput) {
    if (first.framing !== 'stream') return 0
    const client = looksLikeSockhop(first.client)
    const server = looksLikeSockhop(first.server)
    if (client && (server || first.server === undefined)) return 2
    return client || server ? 1 : 0
  },
  decoder() {
    let binary: BinaryReader | undefined
    const fail = (err: unknown, offset: number, bytes?: Buffer) =>
      decoder.onError?.({ code: (err as { code?: string }).code ?? 'BAD_MESSAGE', message: (err as Error).message, offset: (err as { offset?: number }).offset ?? offset, bytes })
    const toBinary = (rest: Buffer) => {
      try {
        binary?.write(rest)
      } catch (err) {
        fail(err, binary?.offset ?? 0)
        binary = undefined
      }
    }
    const lines = new LineSplitter(MAX_LINE, (line, offset) => {
      let frame: DecodedFrame
      try {
        frame = { ...(traceOf(decodeEnvelope(line, offset)) as DecodedFrame), offset, length: line.length + 1 }
      } catch (err) {
        fail(err, offset, line)
        return
      }
      decoder.onFrame?.(frame)
      if (frame.kind === 'binary-mode') {
        binary = new BinaryReader(MAX_LINE, (m, at, length) => {
          const payload = isBufferId(m.msgId) ? Buffer.from(JSON.stringify(m.data.toString('base64'))) : m.data
          decoder.onFrame?.({ ...(binaryTrace(m, payload) as DecodedFrame), offset: at, length })
        })
        binary.offset = lines.offset
        lines.stop()
      }
    })
    let rx: 'lines' | 'binary' = 'lines'
    const decoder: CaptureDecoder = {
      write(data, offset) {
        if (rx === 'binary') {
          if (binary) toBinary(data)
          return
        }
        const rest = lines.feed(data, offset, decoder.onError)
        if (binary !== undefined) {
          rx = 'binary'
          if (rest !== undefined && rest.length > 0) toBinary(rest)
        }
      },
      end(reason) {
        if (rx === 'lines') lines.end(reason, decoder.onError)
        else if (binary !== undefined && binary.buffered > 0) decoder.onError?.({ code: 'TRUNCATED', message: `${binary.buffered} bytes of a binary frame (${reason === 'close' ? 'the connection closed' : 'the capture ended'})`, offset: binary.offset })
      },
    }
    return decoder
  },
}
