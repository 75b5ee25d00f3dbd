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

// oclif is given the package.json read above instead of finding and reading it again; with an
// "oclif" section in it, oclif would not look for an .oclifrc either.
if (oclif) await oclif.execute({ dir: import.meta.url, loadOptions: pjson.oclif ? { root: dirname(pjsonPath), pjson } : undefined })
else process.stdout.write(`${version}\n`)
// Commands set process.exitCode and never exit themselves. Exit once stdout and stderr are
// flushed, so a lingering handle (a stdin listener, a socket being torn down) cannot keep a
// finished command alive, and nothing written to a pipe is lost.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write('', resolve))))
process.exit()

/**
 * The line oclif prints for --version (Config#userAgent: name/version platform-arch node-version),
 * or undefined to let oclif answer where it would print more or otherwise: hooks or plugins in
 * package.json, or a Linux that may be WSL (oclif names the platform "wsl" there).
 */
function versionLine(pjson) {
  const { hooks, plugins, additionalVersionFlags } = pjson.oclif ?? {}
  if (hooks || plugins || additionalVersionFlags) return undefined
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
