#!/usr/bin/env node
import { execute } from '@oclif/core'

await execute({ dir: import.meta.url })
// Commands set process.exitCode and never exit themselves. Exit once stdout and stderr are
// flushed, so a lingering handle (a stdin listener, a socket being torn down) cannot keep a
// finished command alive, and nothing written to a pipe is lost.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))))
process.exit()
