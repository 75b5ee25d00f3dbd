import { createReadStream, fstatSync, writevSync } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import type { Readable } from 'node:stream'
import { isatty } from 'node:tty'
import { decodeCaptureStream, isCapture, peekStream, type CaptureDecodeResult } from '../capture/decode-capture.js'
import { decodeCaptureParallel } from '../render/capture-parallel.js'
import type { CaptureFilter, CaptureHeadEvent, CaptureStmpOptions } from '../capture/stmp.js'
import { StmpError } from '../errors.js'
import { chalkFor } from '../render/colors.js'
import { CaptureNdjson, ChunkPool } from '../render/capture-ndjson.js'
import { captureSummaryLine, CaptureTable } from '../render/capture-table.js'
import { isoSecond, splitNs } from '../render/time.js'
import { CaptureDecoder } from '../capture/decoder.js'
import { decodeDialectBytes, DialectCaptureDecoder, frameJson } from '../capture/dialect.js'
import { ProtoRegistry } from '../payload/protobuf.js'
import { parseInput } from '../capture/hexdump.js'
import { decodeInput, summaryLine, type ByteInputMode, type DecodeOptions, type DecodeSink } from '../capture/decode-bytes.js'
import { NdjsonWriter } from '../render/decode-ndjson.js'
import { DecodeTable } from '../render/decode-table.js'
import type { Direction } from '../capture/types.js'
import { dialectLineJson, restFields } from '../render/capture-dialect.js'
import { DEFAULT_DIALECT, loadAllDialects, loadDialect } from '../dialects/registry.js'
import type { Dialect } from '../dialects/types.js'

/**
 * `stmpcat decode` for pcap/pcapng input: where the input comes from, which renderer, the
 * summary on stderr. The decoding itself is src/lib/capture (decode-capture.ts, stmp.ts).
 */

const READ_CHUNK = 1024 * 1024
/** With --json, a capture file at least this large is decoded on worker threads (unless --threads 1). */
const PARALLEL_MIN_BYTES = 16 * 1024 * 1024
/** Decoding threads by default, the main thread included: one per core, up to 4 (`decode --help`, docs/decode.md, README). */
const PARALLEL_THREADS = Math.min(availableParallelism(), 4)

export interface CaptureCliOptions extends CaptureStmpOptions {
  json: boolean
  filter: CaptureFilter
  /** Decoding threads, the main thread included (--json only); undefined: up to 4 (one per core) for a file of 16 MiB or more, else 1. */
  threads?: number
}

/** How many decode worker threads: 1 means the one-thread path. */
async function threadsFor(file: string | undefined, options: CaptureCliOptions): Promise<number> {
  if (!options.json) return 1
  if (options.threads !== undefined) return options.threads
  if (file === undefined || availableParallelism() < 2) return 1
  const size = await stat(file).then((s) => s.size, () => 0)
  return size >= PARALLEL_MIN_BYTES ? PARALLEL_THREADS : 1
}

/**
 * Whether FILE (or stdin, `undefined`) starts with a capture magic number. Stdin is peeked, not
 * consumed: `stdin` is what to read it from afterwards (all of it, the peeked bytes included).
 */
export async function inputIsCapture(file: string | undefined): Promise<{ capture: boolean; stdin?: Readable }> {
  if (file === undefined) {
    // A terminal: nothing is piped in, the user is to type or paste; say so rather than wait silently.
    if (process.stdin.isTTY) process.stderr.write('stmpcat decode: reading stdin: paste hex, base64 or a dump, then Ctrl-D on a line of its own (or give a FILE: stmpcat decode FILE)\n')
    const peeked = await peekStream(process.stdin, 4)
    return { capture: isCapture(peeked.head), stdin: peeked.stream }
  }
  let handle
  try {
    handle = await open(file, 'r')
  } catch (err) {
    throw badFile(file, err)
  }
  try {
    const head = Buffer.alloc(4)
    const { bytesRead } = await handle.read(head, 0, 4, 0)
    return { capture: isCapture(head.subarray(0, bytesRead)) }
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

/** An error while decoding: a read error (errno code) is BAD_FILE; anything else is left as it is (a bug: INTERNAL). */
function readFailure(file: string, err: unknown): unknown {
  if (err instanceof StmpError) return err
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? badFile(file, err) : err
}

/**
 * When stdout is a file or a device other than a terminal (`> out.ndjson`, `> /dev/null`), a
 * function that writes many Buffers with one writev call, waiting until they are written; else
 * undefined (a pipe or a terminal goes through process.stdout). A write error is OUTPUT_FAILED
 * (docs/exit-codes.md), as for process.stdout.
 */
function stdoutWritev(): ((chunks: Uint8Array[]) => void) | undefined {
  let fd: number
  try {
    fd = (process.stdout as { fd?: number }).fd ?? 1
    const stats = fstatSync(fd)
    if (!stats.isFile() && !(stats.isCharacterDevice() && !isatty(fd))) return undefined
  } catch {
    return undefined
  }
  return (chunks) => {
    let rest = chunks
    try {
      while (rest.length > 0) {
        const group = rest.length > 1024 ? rest.slice(0, 1024) : rest
        let written = writevSync(fd, group)
        // A short write: drop what went out, go on from the first byte that did not.
        let i = 0
        while (i < group.length && written >= group[i].length) written -= group[i++].length
        rest = i < group.length ? [group[i].subarray(written), ...group.slice(i + 1), ...rest.slice(group.length)] : rest.slice(group.length)
      }
    } catch (err) {
      throw new StmpError('OUTPUT_FAILED', `cannot write to stdout: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
    }
  }
}

/**
 * Decodes the capture in FILE (or `stdin`) to stdout; returns whether protocol errors were found.
 * Throws BAD_CAPTURE / BAD_FILE.
 */
export async function decodeCaptureCli(file: string | undefined, options: CaptureCliOptions, stdin: Readable = process.stdin): Promise<{ errors: number }> {
  const source = await openSource(file, stdin)
  const stdout = process.stdout
  // Not events.once: its 'error' listener would turn a closed stdout (EPIPE) into a read failure
  // here; bin/run.js stops the command quietly instead (docs/exit-codes.md).
  const stdoutDrain = () => (stdout.writableNeedDrain ? new Promise<void>((resolve) => stdout.once('drain', () => resolve())) : undefined)
  const threads = await threadsFor(file, options)
  if (threads > 1) {
    let result
    try {
      result = await decodeCaptureParallel(source as AsyncIterable<Buffer>, { ...options, threads, drain: () => stdoutDrain() }, {
        write: (chunk, done) => { stdout.write(chunk, () => done()) },
        writev: stdoutWritev(),
      })
    } catch (err) {
      throw readFailure(file ?? 'stdin', err)
    }
    return finish(result)
  }
  const write = (chunk: string | Buffer) => { stdout.write(chunk) }
  const pool = new ChunkPool(4)
  const out = options.json
    ? new CaptureNdjson((chunk) => { stdout.write(chunk, () => pool.give(chunk)) }, pool.take)
    : new CaptureTable(write, { chalk: chalkFor(stdout), columns: stdout.columns })
  const drain = () => {
    out.flush()
    return stdoutDrain()
  }
  let result
  try {
    const heads = out instanceof CaptureNdjson ? (event: CaptureHeadEvent) => out.head(event) : undefined
    result = await decodeCaptureStream(source as AsyncIterable<Buffer>, { ...options, drain }, (event) => out.event(event), heads)
  } catch (err) {
    throw readFailure(file ?? 'stdin', err)
  }
  out.flush()
  return finish(result)
}

function finish(result: CaptureDecodeResult): { errors: number } {
  process.stderr.write(`stmpcat decode: ${captureSummaryLine(result.summary, result.format, result.bytes)}\n`)
  if (result.fatal !== undefined) throw result.fatal
  return { errors: result.summary.errors }
}

/**
 * `decode --dialect NAME` (a dialect other than stmp-v3) or `--port N=NAME`: the capture's
 * connections through the dialects' own capture decoders (capture/dialect.ts), one NDJSON line
 * (`--json`) or one text line per frame and per error, and on stderr which dialect each
 * connection was read in and why.
 */
export async function decodeCaptureDialects(
  file: string | undefined,
  options: { json: boolean; dialect?: Dialect; ports?: Map<number, Dialect>; serverPorts?: number[]; maxFrameSize: number; proto?: { files: string[]; importPaths?: string[] } },
  stdin: Readable = process.stdin,
): Promise<{ errors: number }> {
  const source = await openSource(file, stdin)
  const stdout = process.stdout
  const chalk = chalkFor(stdout)
  const candidates = await captureDialects()
  const protoRegistry = options.proto === undefined ? undefined : ProtoRegistry.load(options.proto.files, options.proto.importPaths)
  const decoder = new DialectCaptureDecoder({ dialect: options.dialect, ports: options.ports, candidates, protoRegistry }, (line) => {
    const { second, micros } = splitNs(line.time)
    const time = `${isoSecond(second)}.${String(micros).padStart(6, '0')}Z`
    if (options.json) {
      stdout.write(`${JSON.stringify(dialectLineJson(line, time))}\n`)
      return
    }
    const arrow = line.direction === 'client' ? '->' : '<-'
    if (line.error) {
      stdout.write(`${time} ${line.connection} ${arrow} ${chalk.red(`${line.error.code}: ${line.error.message}`)} (byte ${line.error.offset})\n`)
      return
    }
    const { kind, offset: _o, length: _l, ...rest } = frameJson(line.frame!)
    stdout.write(`${time} ${line.connection} ${arrow} ${chalk.bold(String(kind))} ${restFields(rest).join(' ')}\n`)
  }, (connection, dialect, how) => {
    process.stderr.write(`stmpcat decode: ${connection}: ${dialect} (${how})\n`)
  })
  const capture = new CaptureDecoder((event) => decoder.event(event), { maxMessageBytes: options.maxFrameSize, serverPorts: options.serverPorts })
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      capture.write(chunk)
      if (capture.hasFailed) break
      if (stdout.writableNeedDrain) await new Promise<void>((resolve) => stdout.once('drain', () => resolve()))
    }
  } catch (err) {
    throw readFailure(file ?? 'stdin', err)
  }
  capture.end()
  decoder.end()
  const unknown = decoder.unknown > 0 ? `, ${decoder.unknown} connection${decoder.unknown === 1 ? '' : 's'} no dialect recognised` : ''
  process.stderr.write(`stmpcat decode: ${capture.stats.packets} packets, ${decoder.frames} frames, ${decoder.errors} errors${unknown}\n`)
  return { errors: decoder.errors }
}

/**
 * `--dialect` and `--port N[=NAME]` as decode's capture path needs them: `dialects` is set when
 * a dialect other than stmp-v3 is named (then capture/dialect.ts decodes); `ports` are all the
 * port numbers (the server side of connections picked up mid-stream).
 */
export async function decodeRoute(dialect: string | undefined, portFlags: string[] | undefined): Promise<{ ports?: number[]; dialects?: { dialect?: Dialect; ports?: Map<number, Dialect> } }> {
  const ports: number[] = []
  const named = new Map<number, Dialect>()
  for (const text of portFlags ?? []) {
    const m = /^(\d{1,5})(?:=(.+))?$/.exec(text)
    const port = m ? Number(m[1]) : Number.NaN
    if (!m || port < 1 || port > 65535) throw new StmpError('BAD_FLAG', `--port ${JSON.stringify(text)}: expected a port 1-65535, or PORT=DIALECT (e.g. 5101=stmp-go)`)
    ports.push(port)
    if (m[2] !== undefined) named.set(port, await loadDialect(m[2]))
  }
  const chosen = dialect === undefined ? undefined : await loadDialect(dialect)
  const other = (d: Dialect | undefined) => d !== undefined && d.name !== DEFAULT_DIALECT
  if (!other(chosen) && ![...named.values()].some(other)) return { ports: ports.length ? ports : undefined }
  for (const d of [chosen, ...named.values()]) {
    if (d && !d.capture) throw new StmpError('BAD_FLAG', `--dialect ${d.name}: ${d.title} cannot be read from captures yet`)
  }
  return { ports: ports.length ? ports : undefined, dialects: { dialect: chosen, ports: named.size ? named : undefined } }
}

/** `decode` of hex, a dump, base64 or raw bytes in STMP v3: NDJSON or a table on stdout, the summary on stderr. */
export function decodeBytesCli(data: Buffer, mode: ByteInputMode, options: DecodeOptions, json: boolean): { errors: number } {
  let sink: DecodeSink
  let finish: () => void
  if (json) {
    const out = new NdjsonWriter((text) => process.stdout.write(text))
    sink = (event) => out.event(event)
    finish = () => out.flush()
  } else {
    const table = new DecodeTable({ chalk: chalkFor(process.stdout), columns: process.stdout.columns })
    sink = (event) => table.event(event)
    finish = () => {
      if (table.size > 0) process.stdout.write(`${table.render()}\n`)
    }
  }
  const summary = decodeInput(data, mode, options, sink)
  finish()
  process.stderr.write(`stmpcat decode: ${summaryLine(summary)}\n`)
  return { errors: summary.errors }
}

/**
 * `decode --dialect NAME` of hex, a dump, base64 or raw bytes: one direction (`--from`) of one
 * connection in that dialect; lines as for a capture, without time and connection.
 */
export function decodeBytesInDialect(
  data: Buffer, mode: ByteInputMode, dialect: Dialect, options: { framing: 'stream' | 'websocket'; text: boolean; direction: Direction; json: boolean },
): { errors: number } {
  const parsed = options.text && mode === 'auto' ? { bytes: data, detected: 'raw' } : parseInput(data, mode)
  const stdout = process.stdout
  const chalk = chalkFor(stdout)
  const line = { time: 0n, connection: '', direction: options.direction, dialect: dialect.name }
  const summary = decodeDialectBytes(dialect, parsed.bytes, { framing: options.framing, direction: options.direction, text: options.text }, (found) => {
    if (options.json) {
      const { time: _t, connection: _c, ...rest } = dialectLineJson({ ...line, ...found }, '')
      stdout.write(`${JSON.stringify(rest)}\n`)
    } else if (found.error) {
      stdout.write(`${chalk.red(`${found.error.code}: ${found.error.message}`)} (byte ${found.error.offset})\n`)
    } else {
      const { kind, offset, length: _l, ...rest } = frameJson(found.frame!)
      stdout.write(`${String(offset).padStart(6)}  ${chalk.bold(String(kind))} ${Object.entries(rest).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}\n`)
    }
  })
  process.stderr.write(`stmpcat decode: ${summaryLine({ input: parsed.detected, bytes: parsed.bytes.length, ...summary })} (${dialect.title}, ${options.direction} side)\n`)
  return { errors: summary.errors }
}

/** The dialects `decode` sniffs a capture's connections against (no --dialect, no --port): every one that reads captures. */
export async function captureDialects(): Promise<Dialect[]> {
  return (await loadAllDialects()).filter((d) => d.capture !== undefined)
}

/** FILE in chunks (or stdin); open errors (ENOENT, EACCES, a directory) are BAD_FILE before any output. */
async function openSource(file: string | undefined, stdin: Readable): Promise<Readable> {
  if (file === undefined) return stdin
  const source = createReadStream(file, { highWaterMark: READ_CHUNK })
  await new Promise<void>((resolve, reject) => {
    source.once('readable', () => resolve())
    source.once('error', (err) => reject(badFile(file, err)))
  })
  return source
}
