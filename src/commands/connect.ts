import { Args, Flags } from '@oclif/core'
import { StmpCommand } from '../lib/cli/base-command.js'
import { clientFlags } from '../lib/cli/client-flags.js'
import { clientSetup } from '../lib/session/client-setup.js'
import { parseDuration, parseTimeout } from '../lib/flag-values.js'
import { StmpError } from '../lib/errors.js'
import { chalkFor } from '../lib/render/colors.js'
import { traceSession } from '../lib/render/trace.js'
import { PipeRunner } from '../lib/connect/pipe.js'
import { DEFAULT_RECONNECT, Link, type Session, connect, dialectFor } from '../lib/session/index.js'
import { parseAddress } from '../lib/transport/index.js'

export default class Connect extends StmpCommand {
  static override summary = 'Open one session and keep it: a prompt on a terminal, NDJSON in a pipe'
  static override description = `On a terminal: a prompt with history. "ACTION JSON" sends a request, /push ACTION JSON a push, /ping, /reply ID STATUS JSON, /call METHOD (with --proto), /close [CODE] [REASON], /help, /quit (or Ctrl-D). Pushes and requests from the server show up as they arrive.

In a pipe: every input line is a request {"action","payload","id"?}, a push {"push":true,"action","payload"}, a reply to a request from the server {"reply":ID,"status","payload"}, or "ACTION JSON". Lines read before the connection is up wait for it; a reply line never waits behind requests. Output is NDJSON on stdout, one line per response, push or request from the server, and error. At the end of input it waits for every reply, then closes with 1000.

Exit status (pipe): 0 when every request got a 2xx; else, most serious first: the session failed (3, or 4 for a connect timeout), requests lost to a dropped connection 3, protocol errors 5, timeouts 4, a 5xx 7, a 4xx 6, bad input lines 2. --no-fail: 0 whenever the session worked. See docs/connect.md.`

  static override examples = [
    { description: 'An interactive session', command: '<%= config.bin %> <%= command.id %> tcp://127.0.0.1:5000' },
    { description: 'Many requests through one connection, 64 in flight', command: `seq 1000 | sed 's/.*/{"action":"echo","payload":&}/' | <%= config.bin %> <%= command.id %> tcp://127.0.0.1:5000 -c 64` },
    { description: 'Listen for pushes for 10 s after the last reply', command: `echo '{"action":"sub","payload":{"room":"a"}}' | <%= config.bin %> <%= command.id %> ws://127.0.0.1:5002/stmp --wait 10s` },
    { description: 'Survive server restarts', command: 'tail -f examples/requests.ndjson | <%= config.bin %> <%= command.id %> tcp://127.0.0.1:5000 --reconnect --retry' },
  ]

  static override args = {
    url: Args.string({ description: 'tcp://HOST:PORT, tls://, unix:PATH, ws://, wss://; asked for on a terminal when absent', required: false, ignoreStdin: true }),
  }

  static override flags = {
    ...clientFlags,
    concurrency: Flags.integer({ char: 'c', summary: 'Requests in flight at once (pipe); 1 keeps the output in input order.', default: 1, min: 1, max: 65_535 }),
    wait: Flags.string({ summary: 'After the last reply, keep listening for pushes this long (pipe), e.g. 5s; 0: stop at once.', default: '0' }),
    'no-fail': Flags.boolean({ summary: 'Exit 0 whenever the session itself worked, whatever the statuses.' }),
    reconnect: Flags.boolean({ summary: 'Re-dial with exponential backoff and jitter when the connection drops or is refused.' }),
    'reconnect-attempts': Flags.integer({ summary: 'Failed dials in a row before giving up (0: never).', default: DEFAULT_RECONNECT.attempts, min: 0 }),
    'reconnect-delay': Flags.string({ summary: 'Delay before the first re-dial; doubles each attempt (at least 1ms).', default: `${DEFAULT_RECONNECT.initialDelay}ms` }),
    'reconnect-max-delay': Flags.string({ summary: 'Longest delay between re-dials.', default: `${DEFAULT_RECONNECT.maxDelay / 1000}s` }),
    retry: Flags.boolean({ summary: `Re-send requests that were in flight when the connection dropped (with --reconnect; up to 3 times).` }),
    'auto-reply': Flags.integer({ summary: 'Answer requests from the server with this status and an empty payload.', min: 100, max: 999 }),
    verbose: Flags.boolean({ char: 'v', summary: 'Show the connection, the handshake and every frame on stderr (> sent, < received).' }),
    'save-dir': Flags.string({ summary: 'Write each transaction the server sends to DIR/<its name> (dialects with transactions: camp); a name with / or .. is refused (event tx-refused).' }),
    interactive: Flags.boolean({ summary: 'Force the terminal prompt (--no-interactive forces pipe mode); default: stdin is a TTY.', allowNo: true }),
  }

  public async run(): Promise<void> {
    const { args, flags } = await this.parse(Connect)
    const reconnect = {
      enabled: flags.reconnect,
      attempts: flags['reconnect-attempts'],
      initialDelay: parseTimeout(flags['reconnect-delay'], 'reconnect-delay'),
      maxDelay: parseTimeout(flags['reconnect-max-delay'], 'reconnect-max-delay'),
    }
    // A bad URL is a usage error (BAD_URL, exit 2) before anything is read or dialled.
    if (args.url !== undefined) parseAddress(args.url)
    if (flags['save-dir'] !== undefined) {
      // The dialect's option save-dir (checked there: a directory); BAD_FLAG under one without transactions.
      if (args.url !== undefined) {
        const dialect = await dialectFor(parseAddress(args.url), flags.dialect)
        if (!dialect.features.transactions) throw new StmpError('BAD_FLAG', `--save-dir: ${dialect.title} has no transactions (\`stmpcat dialects\` says which have)`)
      }
      flags.option = [...(flags.option ?? []), `save-dir=${flags['save-dir']}`]
    }
    if (flags.interactive ?? process.stdin.isTTY === true) {
      const { runRepl } = await import('../lib/connect/repl.js')
      this.setExitCode(await runRepl(args.url, { flags, reconnect, autoReply: flags['auto-reply'], verbose: flags.verbose }))
      return
    }
    if (args.url === undefined) throw new StmpError('USAGE', 'a URL is needed when stdin is not a terminal')
    const setup = clientSetup(flags)
    const url = args.url
    const log = (message: string) => process.stderr.write(`stmpcat connect: ${message}\n`)
    const runner = new PipeRunner({
      codec: setup.codec,
      concurrency: flags.concurrency,
      timeout: setup.timeout,
      wait: parseDuration(flags.wait, 'wait'),
      retry: flags.retry,
      autoReply: flags['auto-reply'],
      noFail: flags['no-fail'],
      events: flags.reconnect,
      output: process.stdout,
      log,
    })
    const events = runner.linkEvents()
    const prepare = (session: Session) => {
      if (flags.verbose) traceSession(session, { chalk: chalkFor(process.stderr), codec: setup.codec }, url)
      events.prepare?.(session)
    }
    const link = new Link(() => connect(url, { ...setup.options, prepare }), reconnect, events).start()
    const summary = await runner.run(process.stdin, link)
    // The session failed: reported like any command's error (CODE: message, or --json's envelope).
    if (summary.failure) throw summary.failure
    this.setExitCode(summary.exitCode)
  }
}
