import { Args, Flags } from '@oclif/core'
import { BYTE_INPUT_MODES, DEFAULT_DECODE_OPTIONS } from '../lib/capture/decode-bytes.js'
import { FRAME_KINDS } from '../lib/capture/stmp.js'
import { StmpCommand } from '../lib/cli/base-command.js'
import { captureDialects, decodeBytesCli, decodeBytesInDialect, decodeCaptureCli, decodeCaptureDialects, decodeRoute, inputIsCapture } from '../lib/cli/decode-capture.js'
import { parseSize } from '../lib/flag-values.js'
import { ExitCode, StmpError } from '../lib/errors.js'
import { readData } from '../lib/payload/data.js'

export default class Decode extends StmpCommand {
  static override summary = 'Decode STMP frames from a packet capture, a hex dump, base64 or raw bytes'
  static override description = `Reads a file (or stdin) holding STMP bytes as plain hex, an xxd / hexdump -C / od dump, base64 or raw bytes, and prints every frame and every protocol error in input order. Decoding goes on after a bad frame wherever LENGTH allows.

A pcap or pcapng capture (tcpdump, Wireshark) is read in chunks: TCP is reassembled, WebSocket upgrades are followed, and every STMP frame is printed with its time, connection and direction.

Exit status: 0 when the input is clean (a capture that stops inside a frame included), 5 when it holds protocol errors, 2 when it cannot be read (BAD_CAPTURE for a broken capture) or a flag is bad, 141 when stdout is closed by its reader (| head). See docs/decode.md.`

  static override examples = [
    { description: 'A Ping frame given as hex on stdin', command: "echo '03 00 00 07' | <%= config.bin %> <%= command.id %>" },
    { description: 'An xxd dump of a capture, as NDJSON', command: 'xxd examples/frames.bin | <%= config.bin %> <%= command.id %> --json' },
    { description: 'A client stream that starts with its handshake', command: '<%= config.bin %> <%= command.id %> examples/client.hex --handshake client' },
    { description: 'One WebSocket text message', command: "printf 'pAAE' | <%= config.bin %> <%= command.id %> --transport websocket --format text" },
    { description: 'A capture of port 5001, fragmented messages joined, as NDJSON', command: '<%= config.bin %> <%= command.id %> examples/big.pcap --port 5001 --messages --json' },
    { description: 'Failed responses to user.* requests in a capture', command: "<%= config.bin %> <%= command.id %> examples/capture.pcapng --action 'user.*' --status 4xx --status 5xx" },
  ]

  static override args = {
    // ignoreStdin: oclif would otherwise read piped stdin as this argument's value.
    file: Args.string({ description: 'file to read; stdin when absent or "-"', required: false, ignoreStdin: true }),
  }

  static override flags = {
    input: Flags.option({ options: [...BYTE_INPUT_MODES, 'pcap'] as const, default: 'auto' as const, description: 'how the input is written: auto detects pcap/pcapng by magic number, then hex, xxd, hexdump -C, od and base64, else raw bytes; pcap means pcap or pcapng' })(),
    transport: Flags.option({ options: ['stream', 'websocket'] as const, default: 'stream' as const, description: 'stream: LENGTH-prefixed frames (tcp, tls, unix); websocket: the whole input is ONE WebSocket message' })(),
    format: Flags.option({ options: ['binary', 'text'] as const, default: 'binary' as const, description: 'binary, or text (a WebSocket text message, read as the raw text)' })(),
    'server-latency': Flags.boolean({ default: false, description: 'Responses carry the latency field (stmp_server_latency=1)' }),
    handshake: Flags.option({ options: ['none', 'client', 'server'] as const, default: 'none' as const, description: "the stream starts with this side's handshake frame" })(),
    'max-frame': Flags.string({ default: '16MiB', description: 'largest frame accepted (bytes after LENGTH); larger frames are TOO_LARGE' }),
    from: Flags.option({ options: ['client', 'server'] as const, description: 'whose bytes a hex, base64 or raw input is, in a dialect other than stmp-v3 (default client)' })(),
    dialect: Flags.string({ env: 'STMPCAT_DIALECT', description: 'the dialect of the bytes (default stmp-v3; `stmpcat dialects` lists them); a capture in another dialect is decoded by its own capture decoder' }),
    port: Flags.string({ multiple: true, multipleNonGreedy: true, helpGroup: 'CAPTURE', description: 'capture: connections on this port are STMP, or PORT=DIALECT (5101=stmp-go) in that dialect (repeatable); default: detect by handshake or WebSocket upgrade' }),
    messages: Flags.boolean({ default: false, helpGroup: 'CAPTURE', description: 'capture: join fragmented messages and print each once' }),
    action: Flags.string({ helpGroup: 'CAPTURE', description: 'capture: only frames of actions matching this glob (a response matches by its request)' }),
    kind: Flags.option({ options: FRAME_KINDS, multiple: true, multipleNonGreedy: true, delimiter: ',', helpGroup: 'CAPTURE', description: 'capture: only frames of these kinds' })(),
    connection: Flags.string({ helpGroup: 'CAPTURE', description: 'capture: only connections whose "client-ip:port -> server-ip:port" contains this text' }),
    status: Flags.string({ multiple: true, multipleNonGreedy: true, helpGroup: 'CAPTURE', description: 'capture: only frames with this status (200, 4xx; repeatable)' }),
    proto: Flags.string({ multiple: true, multipleNonGreedy: true, helpGroup: 'CAPTURE', description: 'capture: .proto file with the service definitions, to decode application/protobuf payloads by action (repeatable)' }),
    'import-path': Flags.string({ char: 'I', multiple: true, multipleNonGreedy: true, helpGroup: 'CAPTURE', description: 'capture: directory to resolve .proto imports in (repeatable)' }),
    threads: Flags.integer({ min: 1, max: 16, helpGroup: 'CAPTURE', description: 'capture with --json: decode on this many threads, the main one included; default: one per core, up to 4, for a file of 16 MiB or more, else 1' }),
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
    const file = args.file === undefined || args.file === '-' ? undefined : args.file
    const captureFlags = ['port', 'messages', 'action', 'kind', 'connection', 'status', 'threads', 'proto', 'import-path'] as const
    const detected = flags.input === 'auto' ? await inputIsCapture(file) : undefined
    const route = await decodeRoute(flags.dialect, flags.port)
    if ((flags.input === 'pcap' || detected?.capture === true) && route.dialects) {
      const proto = flags.proto === undefined ? undefined : { files: flags.proto, importPaths: flags['import-path'] }
      const { errors } = await decodeCaptureDialects(file, { json: this.jsonEnabled(), ...route.dialects, serverPorts: route.ports, maxFrameSize: options.maxFrameSize, proto }, detected?.stdin)
      if (errors > 0) this.setExitCode(ExitCode.PROTOCOL)
      return
    }
    const dialect = route.dialects?.dialect
    if (route.dialects && !dialect) throw new StmpError('BAD_FLAG', '--port PORT=DIALECT needs a pcap or pcapng capture as input')
    if (flags.from !== undefined && !dialect) throw new StmpError('BAD_FLAG', '--from is for dialects other than stmp-v3 (an STMP v3 stream says its side with --handshake)')
    if (flags.input === 'pcap' || detected?.capture === true) {
      const { errors } = await decodeCaptureCli(file, {
        json: this.jsonEnabled(), threads: flags.threads, ports: route.ports, messages: flags.messages, serverLatency: flags['server-latency'], maxFrameSize: options.maxFrameSize,
        filter: { action: flags.action, kinds: flags.kind, connection: flags.connection, status: flags.status },
        proto: flags.proto === undefined ? undefined : { files: flags.proto, importPaths: flags['import-path'] },
        dialects: flags.dialect === undefined && route.ports === undefined ? await captureDialects() : undefined,
      }, detected?.stdin)
      if (errors > 0) this.setExitCode(ExitCode.PROTOCOL)
      return
    }
    const used = captureFlags.filter((name) => flags[name] !== undefined && flags[name] !== false)
    if (used.length > 0) throw new StmpError('BAD_FLAG', `--${used[0]} needs a pcap or pcapng capture as input`)
    // The curl-style reader: `@-` is stdin, `@path` a file (missing or unreadable: BAD_FILE).
    const data = await readData(file === undefined ? '@-' : `@${file}`, detected?.stdin)
    if (dialect) {
      const { errors } = decodeBytesInDialect(data, flags.input as (typeof BYTE_INPUT_MODES)[number], dialect, { framing: flags.transport, text: flags.format === 'text', direction: flags.from ?? 'client', json: this.jsonEnabled() })
      if (errors > 0) this.setExitCode(ExitCode.PROTOCOL)
      return
    }

    const { errors } = decodeBytesCli(data, flags.input as (typeof BYTE_INPUT_MODES)[number], options, this.jsonEnabled())
    if (errors > 0) this.setExitCode(ExitCode.PROTOCOL)
  }
}
