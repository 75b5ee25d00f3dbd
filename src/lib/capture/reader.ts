/**
 * CaptureReader: an incremental reader for pcap and pcapng files. Feed it chunks of any size with
 * `write()`, call `end()` at the end of the file; packets come out through the callback in file
 * order. It holds at most one record/block in memory, so a 200 MB capture costs no more than a
 * small one.
 *
 * No well-kept npm package reads pcapng as a stream (and reassembles TCP), so it is written here.
 * Malformed input throws a StmpError with code BAD_CAPTURE and the byte offset; after that the
 * reader is failed and throws the same error again.
 *
 * A packet's `data` is a view into the chunks given to `write()` when the packet lies in one
 * chunk (no copy); the reader never writes into them, so keep a chunk's memory unchanged after
 * handing it over (fs and net streams do).
 */
import { StmpError } from '../errors.js'
import { ByteQueue } from './bytes.js'
import { PcapParser, badCapture, isPcapMagic } from './pcap.js'
import { PcapngParser, isPcapngMagic } from './pcapng.js'
import type { CaptureFormat, CapturePacket } from './types.js'

export interface CaptureReaderOptions {
  /** Largest pcap `incl_len` accepted (default 1 MiB); bigger means a corrupt file. */
  maxPacketBytes?: number
  /** Largest pcapng Block Total Length accepted (default 16 MiB). */
  maxBlockBytes?: number
}

export const DEFAULT_MAX_PACKET_BYTES = 1024 * 1024
export const DEFAULT_MAX_BLOCK_BYTES = 16 * 1024 * 1024

/** Which format the first 4 bytes of a file announce, or null. */
export function detectCaptureFormat(firstBytes: Buffer): CaptureFormat | null {
  if (isPcapMagic(firstBytes)) return 'pcap'
  if (isPcapngMagic(firstBytes)) return 'pcapng'
  return null
}

interface Parser { step(queue: ByteQueue): boolean }

export class CaptureReader {
  format: CaptureFormat | null = null
  private readonly queue = new ByteQueue()
  private parser: Parser | undefined
  private failure: StmpError | undefined
  private ended = false
  private readonly maxPacketBytes: number
  private readonly maxBlockBytes: number

  constructor(private readonly onPacket: (packet: CapturePacket) => void, options: CaptureReaderOptions = {}) {
    this.maxPacketBytes = options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES
    this.maxBlockBytes = options.maxBlockBytes ?? DEFAULT_MAX_BLOCK_BYTES
  }

  /** Bytes of the file consumed so far. */
  get offset(): number {
    return this.queue.consumed
  }

  write(chunk: Buffer): void {
    if (this.failure !== undefined) throw this.failure
    if (this.ended) throw this.fail(badCapture('write after end', this.queue.consumed + this.queue.length))
    this.queue.push(chunk)
    this.guard(() => this.pump())
  }

  end(): void {
    if (this.failure !== undefined) throw this.failure
    if (this.ended) return
    this.ended = true
    this.guard(() => {
      this.pump()
      if (this.parser === undefined) {
        const what = this.queue.length === 0 ? 'the capture file is empty' : `the capture file ends after ${this.queue.length} bytes, inside its header`
        throw badCapture(what, 0)
      }
      if (this.queue.length > 0) {
        throw badCapture(`the capture file is truncated: ${this.queue.length} bytes of an incomplete ${this.format === 'pcap' ? 'record' : 'block'} at the end`, this.queue.consumed)
      }
    })
  }

  private pump(): void {
    if (this.parser === undefined) {
      if (this.queue.length < 4) return
      this.parser = this.createParser(this.queue.peek(4))
    }
    while (this.parser.step(this.queue)) { /* one record or block per step */ }
  }

  private createParser(first4: Buffer): Parser {
    this.format = detectCaptureFormat(first4)
    if (this.format === 'pcap') return new PcapParser(this.maxPacketBytes, this.onPacket)
    if (this.format === 'pcapng') return new PcapngParser(this.maxBlockBytes, this.onPacket)
    throw badCapture(`not a pcap or pcapng file: magic number ${first4.toString('hex')}`, 0)
  }

  /** Any throw out of parsing becomes the reader's one failure; a non-StmpError from a parser is a bug. */
  private guard(run: () => void): void {
    try {
      run()
    } catch (err) {
      if (err instanceof StmpError && err.code === 'BAD_CAPTURE') throw this.fail(err)
      throw err
    }
  }

  private fail(err: StmpError): StmpError {
    this.failure = err
    return err
  }
}
