#!/usr/bin/env node
import { writeSync } from 'node:fs'
import { execute } from '@oclif/core'

// stdout or stderr failing (an 'error' event, for files, pipes and terminals alike), the same for
// every command (docs/exit-codes.md):
// - its reader went away (EPIPE: `stmpcat decode big.pcap | head -3`, `... 2>&1 | head`): stop
//   quietly, nothing more printed, exit 141, the status a shell gives a command killed by SIGPIPE
//   (128 + 13), as `cat big | head` ends;
// - anything else (ENOSPC, EIO) is OUTPUT_FAILED, exit 2, said on stderr when stdout failed.
// These replace @oclif/core's listeners, which rethrow such errors as an uncaught exception.
const OUTPUT_CLOSED = 141
/** A command that handles a closed stdout itself (connect: stop sending, close the session with 1000) gets this long to finish. */
const FINISH_MS = 5000
let closed = false

const readerGone = (err) => err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED'

for (const [name, stream] of [['stdout', process.stdout], ['stderr', process.stderr]]) {
  stream.removeAllListeners('error')
  stream.on('error', (err) => {
    if (readerGone(err)) {
      if (closed) return
      closed = true
      process.exitCode = OUTPUT_CLOSED
      if (stream.listenerCount('error') > 1) {
        setTimeout(() => process.exit(OUTPUT_CLOSED), FINISH_MS).unref()
        return
      }
      process.exit(OUTPUT_CLOSED)
    }
    if (name === 'stdout') {
      try {
        writeSync(2, `stmpcat: OUTPUT_FAILED: cannot write to stdout: ${err.code ?? err.message}\n`)
      } catch {
        // stderr is gone too: the exit status says it.
      }
    }
    process.exit(2)
  })
}

await execute({ dir: import.meta.url })
// Commands set process.exitCode and never exit themselves. Exit once stdout and stderr are
// flushed, so a lingering handle (a stdin listener, a socket being torn down) cannot keep a
// finished command alive, and nothing written to a pipe is lost.
// A reader that went away while the last writes waited shows here first (its 'error' event comes later).
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', (err) => {
  if (err && readerGone(err)) closed = true
  resolve()
}))))
if (closed) process.exitCode = OUTPUT_CLOSED
process.exit()
