#!/usr/bin/env node
import { writeSync } from 'node:fs'
import { execute } from '@oclif/core'

// stdout failing (an 'error' event on process.stdout, for files and pipes alike): when the reader
// went away (EPIPE, `stmpcat decode big.pcap --json | head`), stop quietly with the status so
// far, as `cat` would; anything else (ENOSPC, EIO) is OUTPUT_FAILED, exit 2 (docs/exit-codes.md).
// This replaces @oclif/core's listener, which rethrows such errors as an uncaught exception.
process.stdout.removeAllListeners('error')
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') {
    // A command that listens for it itself (connect: stop sending, close the session with 1000)
    // finishes on its own; any other stops here.
    if (process.stdout.listenerCount('error') === 1) process.exit()
    return
  }
  writeSync(2, `stmpcat: OUTPUT_FAILED: cannot write to stdout: ${err.code ?? err.message}\n`)
  process.exitCode = 2
  process.exit()
})

await execute({ dir: import.meta.url })
// Commands set process.exitCode and never exit themselves. Exit once stdout and stderr are
// flushed, so a lingering handle (a stdin listener, a socket being torn down) cannot keep a
// finished command alive, and nothing written to a pipe is lost.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))))
process.exit()
