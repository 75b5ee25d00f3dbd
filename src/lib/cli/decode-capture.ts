import { once } from 'node:events'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { decodeCaptureStream, isCapture, peekStream } from '../capture/decode-capture.js'
import type { CaptureFilter, CaptureStmpOptions } from '../capture/stmp.js'
import { StmpError } from '../errors.js'
import { chalkFor } from '../render/colors.js'
import { CaptureNdjson } from '../render/capture-ndjson.js'
import { captureSummaryLine, CaptureTable } from '../render/capture-table.js'

/**
 * `stmpcat decode` for pcap/pcapng input: where the input comes from, which renderer, the
 * summary on stderr. The decoding itself is src/lib/capture (decode-capture.ts, stmp.ts).
 */

const READ_CHUNK = 1024 * 1024

export interface CaptureCliOptions extends CaptureStmpOptions {
  json: boolean
  filter: CaptureFilter
}

/** Whether FILE (or stdin, `undefined`) starts with a capture magic number. Stdin is peeked, not consumed. */
export async function inputIsCapture(file: string | undefined): Promise<boolean> {
  if (file === undefined) return isCapture(await peekStream(process.stdin, 4))
  let handle
  try {
    handle = await open(file, 'r')
  } catch (err) {
    throw badFile(file, err)
  }
  try {
    const head = Buffer.alloc(4)
    const { bytesRead } = await handle.read(head, 0, 4, 0)
    return isCapture(head.subarray(0, bytesRead))
  } catch (err) {
    throw badFile(file, err)
  } finally {
    await handle.close()
  }
}

function badFile(file: string, err: unknown): StmpError {
  const e = err as NodeJS.ErrnoException
  return new StmpError('BAD_FILE', `cannot read ${file}: ${e.code ?? e.message}`, { cause: err })
}

/** Decodes the capture in FILE (or stdin) to stdout; returns whether protocol errors were found. Throws BAD_CAPTURE / BAD_FILE. */
export async function decodeCaptureCli(file: string | undefined, options: CaptureCliOptions): Promise<{ errors: number }> {
  let source: Readable
  if (file === undefined) {
    source = process.stdin
  } else {
    source = createReadStream(file, { highWaterMark: READ_CHUNK })
    // Surface open errors (ENOENT, EACCES, a directory) as BAD_FILE before any output.
    await new Promise<void>((resolve, reject) => {
      source.once('readable', () => resolve())
      source.once('error', (err) => reject(badFile(file, err)))
    })
  }
  const stdout = process.stdout
  const write = (chunk: string | Buffer) => { stdout.write(chunk) }
  const out = options.json
    ? new CaptureNdjson(write)
    : new CaptureTable(write, { chalk: chalkFor(stdout), columns: stdout.columns })
  const drain = () => {
    out.flush()
    return stdout.writableNeedDrain ? once(stdout, 'drain').then(() => undefined) : undefined
  }
  let result
  try {
    result = await decodeCaptureStream(source as AsyncIterable<Buffer>, { ...options, drain }, (event) => out.event(event))
  } catch (err) {
    if (err instanceof StmpError) throw err
    throw badFile(file ?? 'stdin', err)
  }
  out.flush()
  process.stderr.write(`stmpcat decode: ${captureSummaryLine(result.summary, result.format, result.bytes)}\n`)
  if (result.fatal !== undefined) throw result.fatal
  return { errors: result.summary.errors }
}
