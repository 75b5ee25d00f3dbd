#!/usr/bin/env node
import { existsSync, readFileSync, writeSync } from 'node:fs'
import module from 'node:module'
import { arch, release } from 'node:os'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

// Node 22.1+ keeps V8's compiled code of the bundle in its compile cache (in the OS temp folder);
// Node 20 has no enableCompileCache and nothing happens (docs/startup.md).
module.enableCompileCache?.()

// `stmpcat --version` answers without loading oclif; every other command runs the bundle that
// `npm run build` makes (dist/bundle: the commands and @oclif/core in a few files, docs/startup.md).
const pjsonPath = fileURLToPath(new URL('../package.json', import.meta.url))
const pjson = JSON.parse(readFileSync(pjsonPath, 'utf8'))
const version = process.argv[2] === '--version' ? versionLine(pjson) : undefined
// STMPCAT_DEBUG prints the stack of an unexpected error: in src/ terms, through the bundle's maps.
if (process.env.STMPCAT_DEBUG) process.setSourceMapsEnabled(true)
const oclif = version === undefined ? await import('../dist/bundle/main/oclif.js') : undefined

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

// oclif is given the package.json read above instead of finding and reading it again; with an
// "oclif" section in it, oclif would not look for an .oclifrc either. stmpcat takes no plugins,
// so oclif does not look for user-installed or dev plugins (files read on every start).
if (oclif) await oclif.execute({ dir: import.meta.url, loadOptions: pjson.oclif ? { root: dirname(pjsonPath), pjson, userPlugins: false, devPlugins: false } : undefined })
else process.stdout.write(`${version}\n`)
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

/**
 * The line oclif prints for --version (Config#userAgent: name/version platform-arch node-version),
 * or undefined to let oclif answer where it would print more or otherwise: hooks or plugins in
 * package.json, or a Linux that may be WSL (oclif names the platform "wsl" there).
 */
function versionLine(pjson) {
  const { hooks, plugins, additionalVersionFlags } = pjson.oclif ?? {}
  // Only init and finally hooks run around --version (command_not_found does not).
  if (hooks?.init || hooks?.finally || plugins || additionalVersionFlags) return undefined
  if (process.platform === 'linux' && mayBeWsl()) return undefined
  return `${pjson.name}/${pjson.version || '0.0.0'} ${process.platform}-${arch() === 'ia32' ? 'x86' : arch()} node-${process.version}`
}

function mayBeWsl() {
  if (release().toLowerCase().includes('microsoft')) return true
  try {
    if (readFileSync('/proc/version', 'utf8').toLowerCase().includes('microsoft')) return true
  } catch {
    // no /proc/version: the paths below decide
  }
  return existsSync('/proc/sys/fs/binfmt_misc/WSLInterop') || existsSync('/run/WSL')
}
