import type { Hook } from '@oclif/core'
import { reportUnknownCommand } from '../lib/cli/unknown-command.js'

/** `stmpcat fetc ...`: USAGE, exit 2, naming the closest command (cli/unknown-command.ts). */
const hook: Hook.CommandNotFound = async function (opts) {
  reportUnknownCommand(opts.config, opts.id, opts.argv?.includes('--json') === true)
}

export default hook
