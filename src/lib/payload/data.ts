import { readFile, stat } from 'node:fs/promises'
import { StmpError } from '../errors.js'

/** 256 MiB: far above STMP's largest frame (268,435,455 bytes, wire notes §2) is pointless. */
export const DEFAULT_MAX_DATA_BYTES = 256 * 1024 * 1024

export interface ReadDataOptions {
  /** Largest data accepted, in bytes; over it → BAD_INPUT. Default 256 MiB. */
  maxBytes?: number
}

/**
 * The curl-style data argument (`--data`):
 * - `undefined` (no data given): an empty Buffer, i.e. an empty PAYLOAD
 * - `@-`: all of `stdin` (default: process.stdin)
 * - `@path`: the file's bytes (missing or unreadable → BAD_FILE)
 * - anything else: the literal text as UTF-8 (to send a text starting with `@`, give it on
 *   stdin with `@-`, as with curl)
 *
 * Bytes, not text: a raw (octet-stream) payload from a file must reach the wire unchanged.
 * The size cap is enforced while reading, so a huge file or stream is never fully buffered.
 */
export async function readData(
  spec: string | undefined,
  stdin?: AsyncIterable<Buffer | string>,
  options: ReadDataOptions = {},
): Promise<Buffer> {
  const max = options.maxBytes ?? DEFAULT_MAX_DATA_BYTES
  if (spec === undefined) return Buffer.alloc(0)
  // process.stdin only here: touching it sets up a stream (a cost at every start, docs/startup.md).
  if (spec === '@-') return readStream(stdin ?? process.stdin, max, 'stdin')
  if (spec.startsWith('@')) {
    const file = spec.slice(1)
    if (file === '') throw new StmpError('BAD_FILE', 'data "@" names no file (use @path or @- for stdin)')
    try {
      const st = await stat(file)
      if (st.isFile() && st.size > max) throw tooBig(file, max)
      if (!st.isFile()) {
        // A FIFO or /dev/stdin: stream it with the cap.
        const { createReadStream } = await import('node:fs')
        return await readStream(createReadStream(file), max, file)
      }
      const bytes = await readFile(file)
      if (bytes.length > max) throw tooBig(file, max)
      return bytes
    } catch (err) {
      if (err instanceof StmpError) throw err
      const e = err as NodeJS.ErrnoException
      throw new StmpError('BAD_FILE', `cannot read data file ${file}: ${e.code ?? e.message}`, { cause: err })
    }
  }
  const bytes = Buffer.from(spec, 'utf8')
  if (bytes.length > max) throw tooBig('data argument', max)
  return bytes
}

async function readStream(stream: AsyncIterable<Buffer | string>, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk
    total += b.length
    if (total > max) throw tooBig(what, max)
    chunks.push(b)
  }
  return Buffer.concat(chunks, total)
}

function tooBig(what: string, max: number): StmpError {
  return new StmpError('BAD_INPUT', `${what} is larger than the ${max}-byte limit`)
}
