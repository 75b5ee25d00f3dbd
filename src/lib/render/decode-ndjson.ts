import { frameToJson } from '../codec/index.js'
import type { DecodeEvent } from '../capture/decode-bytes.js'
import { payloadJson } from './preview.js'

/**
 * `decode --json`: one JSON object per line, in input order (docs/decode.md).
 * A frame is exactly `frameToJson`'s fields (shared/conformance/README.md) plus `offset` and
 * `length`, plus `payload` (the decoded value) when the payload is valid JSON, plus whatever
 * the source adds (`meta`). A protocol error is `{"error": {"code", "message", "offset"}}`.
 */
export function decodeEventJson(event: DecodeEvent): Record<string, unknown> {
  if (event.type === 'error') return { ...event.meta, error: event.error.toJSON() }
  const out: Record<string, unknown> = { ...frameToJson(event.frame), offset: event.offset, length: event.length }
  const frame = event.frame
  if (frame.kind === 'request' || frame.kind === 'push' || frame.kind === 'response') {
    const json = payloadJson(frame.payload)
    if (json) out.payload = json.value
  }
  return event.meta ? { ...out, ...event.meta } : out
}

/**
 * Writes NDJSON lines through `write`, batched: one write per ~64 KiB of output, not per frame,
 * so a large capture does not cost a syscall a frame. Call `flush()` at the end.
 */
export class NdjsonWriter {
  private buffer = ''

  constructor(private readonly write: (text: string) => void, private readonly batchChars = 64 * 1024) {}

  event(event: DecodeEvent): void {
    this.buffer += `${JSON.stringify(decodeEventJson(event))}\n`
    if (this.buffer.length >= this.batchChars) this.flush()
  }

  flush(): void {
    if (this.buffer.length === 0) return
    this.write(this.buffer)
    this.buffer = ''
  }
}
