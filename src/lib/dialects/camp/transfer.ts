import { closeSync, constants, fstatSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { StmpError } from '../../errors.js'

/**
 * The file side of CAMP transactions: a received transaction saved to a directory (connect
 * --save-dir), and what this side sends in chunks (push --file, serve's pull answers) read a
 * chunk at a time from a file or a buffer, so a file of any size goes out in bounded memory.
 */

/** Why a transaction name cannot be a file name in the save directory (undefined: it can). */
export function badTxName(name: string): string | undefined {
  if (name === '') return 'an empty name'
  if (name.includes('/') || name.includes('\\')) return 'a name with a path separator'
  if (name.includes('..') || name === '.') return 'a name with ".."'
  if (name.includes('\0')) return 'a name with a NUL byte'
  if (Buffer.byteLength(name) > 255) return 'a name longer than 255 bytes'
  return undefined
}

/** A transaction being written to DIR/NAME (created or truncated; a symbolic link there is refused). */
export class SavedFile {
  readonly path: string
  private fd: number | undefined
  written = 0

  constructor(dir: string, name: string) {
    this.path = join(dir, name)
    try {
      this.fd = openSync(this.path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644)
    } catch (err) {
      throw new StmpError('SAVE_FAILED', `cannot write ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }

  /** Writes `data` at `position` (SAVE_FAILED when the disk refuses). */
  write(data: Buffer, position: number): void {
    if (this.fd === undefined) return
    try {
      let done = 0
      while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, position + done)
      this.written += data.length
    } catch (err) {
      this.abort()
      throw new StmpError('SAVE_FAILED', `writing ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }

  finish(): void {
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }

  /** Closes and removes the partial file (a cancelled or cut transaction). */
  abort(): void {
    if (this.fd === undefined) return
    closeSync(this.fd)
    this.fd = undefined
    try {
      unlinkSync(this.path)
    } catch {
      // Gone already.
    }
  }
}

/** What an outgoing transaction reads its chunks from. */
export interface Source {
  readonly size: number
  /** The bytes are held in memory (a buffer), not read from a file. */
  readonly inMemory?: boolean
  /** Up to `length` bytes at `position` into `target` at `at` (fewer only at the end): how many. */
  readInto(target: Buffer, at: number, position: number, length: number): number
  close(): void
}

export function bufferSource(data: Buffer): Source {
  return { size: data.length, inMemory: true, readInto: (t, at, p, n) => data.copy(t, at, p, Math.min(data.length, p + n)), close: () => undefined }
}

/** A regular file, opened now (BAD_FILE when it cannot be read); each read is one chunk. */
export function fileSource(path: string): Source {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new StmpError('BAD_FILE', `${path}: ${code === 'ENOENT' ? 'no such file' : code ?? (err as Error).message}`)
  }
  const stat = fstatSync(fd)
  if (!stat.isFile()) {
    closeSync(fd)
    throw new StmpError('BAD_FILE', `${path}: not a regular file`)
  }
  let open = true
  return {
    size: stat.size,
    readInto: (target, at, position, length) => {
      let got = 0
      while (got < length) {
        const n = readSync(fd, target, at + got, length - got, position + got)
        if (n === 0) break
        got += n
      }
      return got
    },
    close: () => {
      if (open) closeSync(fd)
      open = false
    },
  }
}
