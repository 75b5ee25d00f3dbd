import { Args, loadHelpClass } from '@oclif/core'
import { StmpCommand } from '../lib/cli/base-command.js'
import { unknownCommandError } from '../lib/cli/unknown-command.js'

/**
 * `stmpcat help [COMMAND]`: the same help as `COMMAND --help` (oclif's Help class, from the
 * manifest). Written here rather than taken from @oclif/plugin-help so that no plugin is loaded
 * on every start (docs/startup.md), and so that a mistyped COMMAND is a USAGE error naming the
 * closest one, as `stmpcat fetc` is.
 */
export default class Help extends StmpCommand {
  static override summary = 'Show the help of stmpcat or of one command'
  static override enableJsonFlag = false
  static override strict = false
  static override flags = {}
  static override args = {
    command: Args.string({ description: 'the command to show help for', required: false, ignoreStdin: true }),
  }

  static override examples = ['<%= config.bin %> help', '<%= config.bin %> help fetch']

  public async run(): Promise<void> {
    const { argv } = await this.parse(Help)
    const words = argv as string[]
    if (words.length > 0 && this.config.findCommand(words[0]) === undefined) throw unknownCommandError(this.config, words[0])
    const HelpClass = await loadHelpClass(this.config)
    await new HelpClass(this.config, this.config.pjson.oclif.helpOptions).showHelp(words)
  }
}
