import { StmpCommand } from '../lib/cli/base-command.js'
import { loadAllDialects } from '../lib/dialects/registry.js'
import { chalkFor } from '../lib/render/colors.js'
import { dialectInfo, dialectsText } from '../lib/render/dialects.js'

export default class Dialects extends StmpCommand {
  static override summary = 'List the wire dialects stmpcat speaks, with what each supports'
  static override description = `Every command takes --dialect NAME (default stmp-v3), and an address NAME+scheme://... names its own (serve listeners, decode ports: --port N=NAME). Flags only some dialects have (--format, --server-latency, --token, -H, -O KEY=VALUE) are refused with BAD_FLAG under one that lacks them. How to add a dialect: docs/dialects.md.`

  static override examples = [
    { description: 'What there is', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'As JSON, one object per dialect', command: '<%= config.bin %> <%= command.id %> --json' },
  ]

  static override args = {}
  static override flags = {}

  public async run(): Promise<Record<string, unknown>[]> {
    const dialects = await loadAllDialects()
    if (!this.jsonEnabled()) process.stdout.write(dialectsText(dialects, chalkFor(process.stdout).bold))
    return dialects.map(dialectInfo)
  }
}
