import { Args, Flags } from '@oclif/core'
import { StmpCommand } from '../lib/cli/base-command.js'
import { parseDuration, parseSize, parseTimeout } from '../lib/flag-values.js'
import { parseOptions } from '../lib/session/client-setup.js'
import { StmpError } from '../lib/errors.js'
import { chalkFor } from '../lib/render/colors.js'
import { DEFAULT_SERVE_URL, nextSignal, parentExited, startServe } from '../lib/server/serve.js'

export default class Serve extends StmpCommand {
  static override summary = 'Run an STMP server: echo, routes file or handler module, on any number of listeners'
  static override description = `Listens on every URL given (tcp://, tls://, unix:, ws://, wss://; default ${DEFAULT_SERVE_URL}) and prints "stmpcat serve: listening on URL" on stderr for each, with the real port; with --json or --log, stdout's first line is {"event":"listening","urls":[...]} once all are bound. Every request gets 200 with its own payload, unless --routes or --handler says otherwise. JSON lines on stdin are pushed to the clients connected then: {"action": "news", "payload": {...}, "to": "all" | "room:NAME" | CONNECTION_ID}; a line {"wait": N} holds the lines after it until N connections are open.

SIGINT or SIGTERM stops accepting, lets handlers in flight finish (--drain-timeout), sends Close 1001 to every client and exits 0. Started by npx (npm exec), it does the same when npm exits (kill $! under npx kills npm, not node). See docs/serve.md for the routes format and the handler API.`

  static override examples = [
    { description: 'Echo on the default address', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'TCP, WebSocket and a Unix socket at once', command: '<%= config.bin %> <%= command.id %> tcp://127.0.0.1:5001 ws://127.0.0.1:5002/stmp unix:/tmp/stmp.sock' },
    { description: 'A mock from a routes file, logging every frame as NDJSON', command: '<%= config.bin %> <%= command.id %> :5000 --routes examples/routes.yaml --log' },
    { description: 'Koa-like middleware from a module', command: '<%= config.bin %> <%= command.id %> :5000 --handler examples/handler.mjs' },
    { description: 'Push to the first client that connects, from a script', command: 'printf \'%s\\n\' \'{"wait":1}\' \'{"action":"news","payload":{"n":1}}\' | <%= config.bin %> <%= command.id %> :5000' },
    { description: 'Token auth, keep-alive and per-connection stats as NDJSON', command: '<%= config.bin %> <%= command.id %> :5000 --token s3cret --keepalive 5s --stats --json' },
  ]

  static override args = {
    url: Args.string({ description: `address to listen on (repeatable; default ${DEFAULT_SERVE_URL}); port 0 picks a free port`, multiple: true, ignoreStdin: true }),
  }

  static override flags = {
    routes: Flags.string({ summary: 'YAML or JSON routes file: per action a status, reply template, delay, pushes, broadcasts, rooms.', exclusive: ['handler'] }),
    handler: Flags.string({ summary: 'JavaScript or TypeScript module exporting Koa-like middleware (ctx, next).', exclusive: ['routes'] }),
    dialect: Flags.string({ summary: 'Wire dialect of the listeners (default stmp-v3); a URL NAME+scheme:// names its own. `stmpcat dialects` lists them.', env: 'STMPCAT_DIALECT' }),
    option: Flags.string({ char: 'O', summary: 'A dialect\'s own option KEY=VALUE (repeatable).', multiple: true, multipleNonGreedy: true }),
    token: Flags.string({ summary: 'Require "Authorization: Bearer TOKEN" in the handshake (else 401).' }),
    cert: Flags.string({ summary: 'PEM certificate for tls:// and wss:// listeners.' }),
    key: Flags.string({ summary: 'PEM private key for tls:// and wss:// listeners.' }),
    proto: Flags.string({ summary: '.proto file with the service definitions, for protobuf connections (repeatable).', multiple: true, multipleNonGreedy: true }),
    'import-path': Flags.string({ char: 'I', summary: 'Directory to resolve .proto imports in (repeatable).', multiple: true, multipleNonGreedy: true }),
    keepalive: Flags.string({ summary: 'Ping every connection at this interval (0: off).', default: '0' }),
    'ping-timeout': Flags.string({ summary: 'Close a connection whose ping is not answered within this time.', default: '10s' }),
    'handshake-timeout': Flags.string({ summary: 'A tcp/tls/unix client must finish its handshake within this time (else 408).', default: '10s' }),
    'max-connections': Flags.integer({ summary: 'Connections open at once; more are refused (503).', default: 100_000, min: 1 }),
    'max-frame': Flags.string({ summary: 'Largest frame accepted; larger ones close the connection (1009).', default: '16MiB' }),
    'max-message': Flags.string({ summary: 'Largest reassembled message accepted (413).', default: '64MiB' }),
    'max-in-flight': Flags.integer({ summary: 'Requests of one connection handled at once; past it the connection is not read.', default: 1024, min: 1 }),
    'drain-timeout': Flags.string({ summary: 'On SIGINT/SIGTERM, how long handlers in flight may take; 0: do not wait for them.', default: '5s' }),
    stats: Flags.boolean({ summary: 'Per-connection RTT, bytes and requests, every --stats-interval and at disconnect.' }),
    'stats-interval': Flags.string({ summary: 'How often --stats reports.', default: '10s' }),
    log: Flags.boolean({ summary: 'Every frame in and out as NDJSON on stdout.' }),
  }

  public async run(): Promise<void> {
    const { argv, flags } = await this.parse(Serve)
    // Handlers first: a SIGTERM sent as soon as "listening" is printed still stops gracefully.
    const stopSignal = nextSignal()
    const running = await startServe({
      urls: argv as string[],
      dialect: flags.dialect, dialectOptions: parseOptions(flags.option),
      cert: flags.cert, key: flags.key, routes: flags.routes, handler: flags.handler, token: flags.token,
      proto: flags.proto, importPaths: flags['import-path'],
      keepalive: parseDuration(flags.keepalive, 'keepalive'),
      pingTimeout: parseTimeout(flags['ping-timeout'], 'ping-timeout'),
      handshakeTimeout: parseTimeout(flags['handshake-timeout'], 'handshake-timeout'),
      maxConnections: flags['max-connections'],
      maxFrameSize: parseSize(flags['max-frame'], 'max-frame'),
      maxMessageSize: parseSize(flags['max-message'], 'max-message'),
      maxInFlight: flags['max-in-flight'],
      drainTimeout: parseDuration(flags['drain-timeout'], 'drain-timeout'),
      stats: flags.stats,
      statsInterval: parseTimeout(flags['stats-interval'], 'stats-interval'),
      json: this.jsonEnabled(),
      log: flags.log,
    }, {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
      // A pipe, file or FIFO only: a terminal read by `serve &` would stop the job (SIGTTIN).
      stdin: process.stdin.isTTY ? undefined : process.stdin,
      chalk: chalkFor(process.stderr),
    })
    // A signal, or (under npx only) the npm process that started us going away.
    const signal = await Promise.race([stopSignal, parentExited()])
    // A second signal while draining cuts every connection at once.
    void nextSignal().then(() => { for (const s of running.server.sessions.values()) s.transport.destroy() })
    const closing = [...running.server.sessions.values()].map((s) => s.closed)
    await running.stop(signal)
    // Frames queued for a client (pushes, responses) that never went out fail the stop (issue 18).
    const lost = (await Promise.all(closing)).filter((info) => info.unsent > 0)
    if (lost.length > 0) {
      throw new StmpError('CONNECTION_CLOSED', `${lost.length} connection(s) ended with frames not sent (${lost.reduce((n, i) => n + i.unsent, 0)} bytes): they did not reach the client`)
    }
  }
}
