import { Args, Flags } from '@oclif/core'
import { BYTE_INPUT_MODES, DEFAULT_DECODE_OPTIONS, decodeInput, summaryLine, type DecodeSink } from '../lib/capture/decode-bytes.js'
import { StmpCommand } from '../lib/cli/base-command.js'
import { parseSize } from '../lib/cli/units.js'
import { ExitCode } from '../lib/errors.js'
import { readData } from '../lib/payload/data.js'
import { chalkFor } from '../lib/render/colors.js'
import { NdjsonWriter } from '../lib/render/decode-ndjson.js'
import { DecodeTable } from '../lib/render/decode-table.js'

export default class Decode extends StmpCommand {
  static override summary = 'Decode STMP frames from a hex dump, base64 or raw bytes'
  static override description = `Reads a file (or stdin) holding STMP bytes as plain hex, an xxd / hexdump -C / od dump, base64 or raw bytes, and prints every frame and every protocol error in input order. Decoding goes on after a bad frame wherever LENGTH allows.

Exit status: 0 when the input is clean, 5 when it holds protocol errors, 2 when it cannot be read or a flag is bad. See docs/decode.md.`

  static override examples = [
    { description: 'A Ping frame given as hex on stdin', command: "echo '03 00 00 07' | <%= config.bin %> <%= command.id %>" },
    { description: 'An xxd dump of a capture, as NDJSON', command: 'xxd frames.bin | <%= config.bin %> <%= command.id %> --json' },
    { description: 'A client stream that starts with its handshake', command: '<%= config.bin %> <%= command.id %> client.hex --handshake client' },
    { description: 'One WebSocket text message', command: "printf 'pAAE' | <%= config.bin %> <%= command.id %> --transport websocket --format text" },
  ]

  static override args = {
    // ignoreStdin: oclif would otherwise read piped stdin as this argument's value.
    file: Args.string({ description: 'file to read; stdin when absent or "-"', required: false, ignoreStdin: true }),
  }

  static override flags = {
    input: Flags.option({ options: BYTE_INPUT_MODES, default: 'auto' as const, description: 'how the input is written: auto detects hex, xxd, hexdump -C, od and base64, else raw bytes' })(),
    transport: Flags.option({ options: ['stream', 'websocket'] as const, default: 'stream' as const, description: 'stream: LENGTH-prefixed frames (tcp, tls, unix); websocket: the whole input is ONE WebSocket message' })(),
    format: Flags.option({ options: ['binary', 'text'] as const, default: 'binary' as const, description: 'binary, or text (a WebSocket text message, read as the raw text)' })(),
    'server-latency': Flags.boolean({ default: false, description: 'Responses carry the latency field (stmp_server_latency=1)' }),
    handshake: Flags.option({ options: ['none', 'client', 'server'] as const, default: 'none' as const, description: "the stream starts with this side's handshake frame" })(),
    'max-frame': Flags.string({ default: '16MiB', description: 'largest frame accepted (bytes after LENGTH); larger frames are TOO_LARGE' }),
  }

  public async run(): Promise<void> {
    const { args, flags } = await this.parse(Decode)
    const options = {
      ...DEFAULT_DECODE_OPTIONS,
      transport: flags.transport,
      format: flags.format,
      serverLatency: flags['server-latency'],
      handshake: flags.handshake,
      maxFrameSize: parseSize(flags['max-frame'], 'max-frame'),
    }
    // The curl-style reader: `@-` is stdin, `@path` a file (missing or unreadable: BAD_FILE).
    const data = await readData(args.file === undefined || args.file === '-' ? '@-' : `@${args.file}`)

    let sink: DecodeSink
    let finish: () => void
    if (this.jsonEnabled()) {
      const out = new NdjsonWriter((text) => process.stdout.write(text))
      sink = (event) => out.event(event)
      finish = () => out.flush()
    } else {
      const table = new DecodeTable({ chalk: chalkFor(process.stdout), columns: process.stdout.columns })
      sink = (event) => table.event(event)
      finish = () => {
        if (table.size > 0) process.stdout.write(`${table.render()}\n`)
      }
    }
    const summary = decodeInput(data, flags.input, options, sink)
    finish()
    process.stderr.write(`stmpcat decode: ${summaryLine(summary)}\n`)
    if (summary.errors > 0) this.setExitCode(ExitCode.PROTOCOL)
  }
}
