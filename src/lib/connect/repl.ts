import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import readline from 'node:readline'
import type { ChalkInstance } from 'chalk'
import { type ClientFlagValues, clientSetup } from '../session/client-setup.js'
import { ExitCode, StmpError } from '../errors.js'
import { type PayloadCodec, type ProtoFieldInfo, type ProtoMethodInfo, ProtoRegistry, ProtobufCodec } from '../payload/index.js'
import { type IncomingRequest, Link, type ReconnectPolicy, type Session, connect } from '../session/index.js'
import { parseAddress } from '../transport/index.js'
import { chalkFor } from '../render/colors.js'
import { eventJson, roomCommand } from './pipe.js'
import { TxProgress } from './tx-progress.js'
import { renderPayload } from '../render/payload-output.js'
import { statusText, traceSession } from '../render/trace.js'

/**
 * `stmpcat connect` on a terminal: a prompt with line editing and history, requests, pushes,
 * pings and replies typed as commands, and whatever the server sends shown the moment it
 * arrives without breaking the line being typed (clear the line, print, redraw the prompt and
 * the typed text). docs/connect.md lists the commands.
 *
 * Two streams: results (responses, pushes and requests from the server, pings) go to stdout;
 * the prompt, its escape codes and notes for the person go to the terminal, which is stdout
 * when it is one, else stderr (`stmpcat connect URL > out.txt` keeps the prompt out of the file).
 */

export interface ReplSettings {
  flags: ClientFlagValues
  reconnect: ReconnectPolicy
  autoReply?: number
  verbose: boolean
  input?: NodeJS.ReadStream
  /** The terminal: prompt, line editing, notes (default: stdout when a TTY, else stderr). */
  output?: NodeJS.WriteStream
  /** Where results go (default stdout). */
  results?: NodeJS.WritableStream
}

/** The stream for the prompt and notes: stdout when it is a terminal, else stderr. */
export function terminalStream(): NodeJS.WriteStream {
  return process.stdout.isTTY ? process.stdout : process.stderr
}

export const HISTORY_SIZE = 1000
const PROMPT = 'stmp> '
/** A received transaction bigger than this is not printed on the prompt (connect --save-dir writes it to a file). */
const TRANSACTION_SHOWN = 1024

/** `$STMPCAT_HISTORY`, else `$XDG_STATE_HOME/stmpcat/history`, else `~/.cache/stmpcat/history`. */
export function historyPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STMPCAT_HISTORY) return env.STMPCAT_HISTORY
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'stmpcat', 'history')
  return join(homedir(), '.cache', 'stmpcat', 'history')
}

function loadHistory(path: string): string[] {
  try {
    // The file is oldest first; readline wants newest first.
    return readFileSync(path, 'utf8').split('\n').filter(Boolean).slice(-HISTORY_SIZE).reverse()
  } catch {
    return []
  }
}

const HELP = `  ACTION [JSON]              send a request and show the response
  /push ACTION [JSON]        send a push
  /ping                      measure the round trip
  /reply ID STATUS [JSON]    answer a request from the server
  /call METHOD               fill in a protobuf method's request field by field (--proto)
  /join ROOM, /leave ROOM    join or leave a room (dialects with rooms: stocking)
  /broadcast ROOM TEXT       send TEXT to the room's other members (stocking)
  /fetch TXID [START END]    fetch a pull transaction, or bytes START..END of it (dialects with transactions: camp)
  /close [CODE] [REASON]     close with CODE (default 1000) and leave
  /help                      this list
  /quit, Ctrl-D              close with 1000 and leave`

const COMMANDS = ['/push', '/ping', '/reply', '/call', '/join', '/leave', '/broadcast', '/fetch', '/close', '/help', '/quit']

export class Repl {
  private rl?: readline.Interface
  private readonly input: NodeJS.ReadStream
  private readonly output: NodeJS.WriteStream
  private readonly results: NodeJS.WritableStream
  /** Results are printed on the terminal too (stdout is the terminal). */
  private readonly shared: boolean
  private readonly chalk: ChalkInstance
  /** Colours for results: none when they go to a file or a pipe. */
  private readonly resultChalk: ChalkInstance
  private readonly codec: PayloadCodec
  private readonly timeout: number
  private readonly registry?: ProtoRegistry
  private readonly methods: ProtoMethodInfo[]
  private readonly actions = new Set<string>()
  private readonly serverRequests = new Map<number, IncomingRequest>()
  private history: string[]
  private readonly historyFile: string
  private suspended = false
  private held: string[] = []
  private link!: Link
  private ended = false
  private exitCode: ExitCode = ExitCode.OK
  private resolveEnd!: (code: ExitCode) => void
  private lastDropCode?: number
  private readonly connectOptions: ReturnType<typeof clientSetup>['options']

  constructor(private readonly url: string, private readonly settings: ReplSettings) {
    this.input = settings.input ?? process.stdin
    this.output = settings.output ?? terminalStream()
    this.results = settings.results ?? process.stdout
    this.shared = this.results === this.output
    this.chalk = chalkFor(this.output)
    this.resultChalk = this.shared ? this.chalk : chalkFor(this.results as NodeJS.WriteStream)
    const setup = clientSetup(settings.flags)
    this.codec = setup.codec
    this.timeout = setup.timeout
    this.connectOptions = setup.options
    this.registry = setup.codec instanceof ProtobufCodec ? setup.codec.registry
      : settings.flags.proto?.length ? ProtoRegistry.load(settings.flags.proto, settings.flags['import-path'] ?? []) : undefined
    this.methods = this.registry?.methods() ?? []
    this.historyFile = historyPath()
    this.history = loadHistory(this.historyFile)
  }

  /** Connects, runs the prompt until /quit, /close, Ctrl-D or the connection ends; the exit code. */
  async run(): Promise<ExitCode> {
    const ended = new Promise<ExitCode>((resolve) => { this.resolveEnd = resolve })
    this.link = new Link((prepare) => connect(this.url, { ...this.connectOptions, prepare }), this.settings.reconnect, {
      prepare: (session) => {
        if (this.settings.verbose) traceSession(session, { chalk: chalkFor(process.stderr), codec: this.codec, write: (line) => this.print(line) }, this.url)
        this.attach(session)
      },
      onOpen: (session, info) => this.print(this.chalk.dim(`${info.reconnected ? 'reconnected to' : 'connected to'} ${this.url} (${session.contentType}); /help lists the commands`)),
      onDrop: (info) => {
        this.lastDropCode = info.code
        this.print(this.chalk.yellow(`connection closed by ${info.initiator === 'remote' ? 'the server' : 'the network'}: ${info.code}${info.message ? ` ${info.message}` : ''}`))
      },
      onRetry: ({ attempt, delay, error }) => this.print(this.chalk.yellow(`${error.message}; reconnecting in ${delay} ms (attempt ${attempt})`)),
      onFail: (error) => {
        // The prompt goes first: it must not be redrawn after the last line.
        this.closePrompt()
        if (this.lastDropCode !== 1000) this.print(this.chalk.red(`${error.code}: ${error.message}`))
        // The server ending the session normally (1000) is a normal end; anything else is not.
        this.end(this.lastDropCode === 1000 ? ExitCode.OK : error.exitCode)
      },
    }).start()
    // The first connection comes before the prompt: a refused one is a plain error (exit 3).
    try {
      await this.link.ready()
    } catch (err) {
      if (this.ended) return this.exitCode
      throw err
    }
    if (!this.ended) this.openPrompt()
    return ended
  }

  // ---- output ----

  /** Prints above the prompt: clear the line, print, redraw the prompt and what was typed. */
  print(text: string): void {
    if (this.suspended) {
      this.held.push(text)
      return
    }
    const body = text.endsWith('\n') ? text : `${text}\n`
    if (!this.rl) {
      this.output.write(body)
      return
    }
    readline.clearLine(this.output, 0)
    readline.cursorTo(this.output, 0)
    this.output.write(body)
    this.rl.prompt(true)
  }

  /** A result: on stdout; above the prompt when stdout is the terminal. */
  private result(text: string): void {
    if (this.shared) return this.print(text)
    this.results.write(text.endsWith('\n') ? text : `${text}\n`)
  }

  private payload(bytes: Buffer, action: string, role: 'request' | 'response' | 'push', status?: number): string {
    const chalk = this.resultChalk
    const rendered = renderPayload(this.codec, bytes, { action, role, status }, { tty: true, chalk })
    const text = typeof rendered.data === 'string' ? rendered.data : rendered.data.toString('utf8')
    return rendered.warning ? `${text}${chalk.yellow(rendered.warning)}\n` : text
  }

  // ---- the prompt ----

  private openPrompt(): void {
    const rl = readline.createInterface({
      input: this.input,
      output: this.output,
      prompt: PROMPT,
      terminal: true,
      history: this.history,
      historySize: HISTORY_SIZE,
      removeHistoryDuplicates: true,
      completer: (line: string) => this.complete(line),
    })
    this.rl = rl
    rl.on('line', (line) => {
      const text = line.trim()
      if (text !== '') this.remember(text)
      void this.handle(text).then(() => {
        if (this.rl === rl && !this.ended && !this.suspended) rl.prompt()
      })
    })
    rl.on('SIGINT', () => {
      // Ctrl-C clears a typed line; on an empty line it leaves, like Ctrl-D.
      if (rl.line.length > 0) {
        rl.write(null, { ctrl: true, name: 'u' })
        return
      }
      this.output.write('\n')
      void this.quit(1000, '')
    })
    rl.on('close', () => {
      if (this.rl !== rl) return
      // Ctrl-D: the prompt is still on screen, with the cursor after it.
      this.rl = undefined
      readline.clearLine(this.output, 0)
      readline.cursorTo(this.output, 0)
      if (!this.ended) void this.quit(1000, '')
    })
    rl.prompt()
  }

  private remember(line: string): void {
    try {
      mkdirSync(dirname(this.historyFile), { recursive: true })
      appendFileSync(this.historyFile, `${line.replace(/\n/g, ' ')}\n`)
    } catch {
      // History is a convenience: a read-only home must not stop the session.
    }
  }

  /** Keeps the history file bounded: rewritten with the last HISTORY_SIZE lines on exit. */
  private trimHistory(): void {
    try {
      const lines = readFileSync(this.historyFile, 'utf8').split('\n').filter(Boolean)
      if (lines.length > HISTORY_SIZE) writeFileSync(this.historyFile, `${lines.slice(-HISTORY_SIZE).join('\n')}\n`)
    } catch {
      // Nothing to trim.
    }
  }

  private complete(line: string): [string[], string] {
    const words = line.split(/\s+/)
    if (words.length > 2 || (words.length === 2 && words[0] !== '/call' && words[0] !== '/push')) return [[], line]
    const word = words[words.length - 1]
    const names = [...new Set([...this.methods.map((m) => m.fullName), ...this.actions])]
    const pool = words.length === 2 ? names : [...COMMANDS, ...names]
    const hits = pool.filter((c) => c.startsWith(word)).sort()
    return [hits, word]
  }

  private async handle(text: string): Promise<void> {
    if (text === '') return
    try {
      if (!text.startsWith('/')) return this.request(text)
      const [command, ...rest] = text.split(/\s+/)
      const args = text.slice(command.length).trim()
      switch (command) {
        case '/push': return this.push(args)
        case '/ping': return await this.ping()
        case '/reply': return this.reply(args)
        case '/call': return await this.call(rest[0])
        case '/close': return await this.quit(rest[0] === undefined ? 1000 : Number(rest[0]), rest.slice(1).join(' '))
        case '/quit': case '/exit': return await this.quit(1000, '')
        case '/help': return this.print(HELP)
        case '/fetch': {
          // A pull transaction's range (dialects with transactions: camp): /fetch TXID [START END].
          const [txId, start, end] = rest.map(Number)
          if (rest.length !== 1 && rest.length !== 3) throw new StmpError('BAD_INPUT', 'usage: /fetch TXID [START END] (bytes, END excluded; without them the whole transaction)')
          this.session().command('tx-fetch', { txId, ...(rest.length === 3 ? { start, end } : {}) })
          return this.print(this.chalk.dim(`tx-fetch ${rest.join(' ')} sent`))
        }
        case '/join': case '/leave': case '/broadcast': {
          const { name, args: commandArgs } = roomCommand(text) as { name: string; args: Record<string, unknown> }
          this.session().command(name, commandArgs)
          return this.print(this.chalk.dim(`${name} ${String(commandArgs.room)} sent`))
        }
        default:
          this.print(this.chalk.red(`unknown command ${command}; /help lists them`))
      }
    } catch (err) {
      const e = err instanceof StmpError ? err : new StmpError('INTERNAL', (err as Error).message)
      this.print(this.chalk.red(`${e.code}: ${e.message}`))
    }
  }

  private session(): Session {
    const session = this.link.current
    if (!session || session.state !== 'open') throw new StmpError('CONNECTION_CLOSED', 'not connected (waiting for the connection to come back)')
    return session
  }

  private split(args: string): { action: string; data: string } {
    const space = args.search(/\s/)
    const action = space === -1 ? args : args.slice(0, space)
    if (action === '') throw new StmpError('BAD_INPUT', 'an ACTION is needed')
    return { action, data: space === -1 ? '' : args.slice(space + 1).trim() }
  }

  private request(args: string): void {
    const { action, data } = this.split(args)
    const payload = this.codec.fromText(data, { action, role: 'request' })
    this.send(action, payload)
  }

  private send(action: string, payload: Buffer): void {
    const session = this.session()
    this.actions.add(action)
    const chalk = this.resultChalk
    session.request(action, payload, { timeout: this.timeout }).then((res) => {
      const ok = res.status >= 200 && res.status < 300
      const colour = ok ? chalk.green : res.status >= 500 ? chalk.red : chalk.yellow
      const server = res.latency === null ? '' : `, server ${res.latency} ms`
      const head = `${colour(`← ${statusText(res.status)}`)} ${chalk.dim(`${action} #${res.id} ${res.elapsed.toFixed(1)} ms${server}`)}`
      this.result(`${head}\n${this.payload(res.payload, action, 'response', res.status)}`)
    }, (err: StmpError) => this.result(chalk.red(`✗ ${action}: ${err.code}: ${err.message}`)))
  }

  private push(args: string): void {
    const { action, data } = this.split(args)
    this.session().push(action, this.codec.fromText(data, { action, role: 'push' }))
    this.actions.add(action)
    this.print(this.chalk.dim(`→ push ${action} sent`))
  }

  private async ping(): Promise<void> {
    const rtt = await this.session().ping()
    this.result(`ping: ${rtt.toFixed(2)} ms`)
  }

  private reply(args: string): void {
    const m = /^(\d+)\s+(\d{3})(?:\s+([\s\S]*))?$/.exec(args)
    if (!m) throw new StmpError('BAD_INPUT', 'usage: /reply ID STATUS [JSON]')
    const id = Number(m[1])
    const request = this.serverRequests.get(id)
    if (!request) throw new StmpError('BAD_INPUT', `no request ${id} from the server is waiting for a reply`)
    const status = Number(m[2])
    const ok = status >= 200 && status < 300
    const payload = ok ? this.codec.fromText(m[3] ?? '', { action: request.action, role: 'response' }) : Buffer.from(m[3] ?? '', 'utf8')
    this.serverRequests.delete(id)
    request.respond(status, payload)
    this.print(this.chalk.dim(`→ replied ${statusText(status)} to #${id} ${request.action}`))
  }

  /** Walks through a protobuf method's request fields with prompts, then sends the request. */
  private async call(name: string | undefined): Promise<void> {
    if (this.methods.length === 0) throw new StmpError('BAD_INPUT', '/call needs --proto files with service definitions')
    const prompts = await import('@inquirer/prompts')
    // The questions go where the prompt goes, never into a redirected stdout.
    const context = { input: this.input, output: this.output }
    const input = (config: Parameters<typeof prompts.input>[0]) => prompts.input(config, context)
    const select = <T>(config: Parameters<typeof prompts.select<T>>[0]) => prompts.select<T>(config, context)
    const confirm = (config: Parameters<typeof prompts.confirm>[0]) => prompts.confirm(config, context)
    this.suspend()
    let value: Record<string, unknown>
    let method: ProtoMethodInfo | undefined
    try {
      method = name === undefined ? undefined : this.methods.find((m) => m.fullName === name || `${m.service.split('.').pop()}.${m.name}` === name || m.name === name)
      if (!method) {
        const chosen = await select({ message: 'Method', choices: this.methods.map((m) => ({ name: m.fullName, value: m.fullName })) })
        method = this.methods.find((m) => m.fullName === chosen) as ProtoMethodInfo
      }
      const ask = async (fields: ProtoFieldInfo[], prefix: string): Promise<Record<string, unknown>> => {
        const out: Record<string, unknown> = {}
        for (const f of fields) {
          const label = `${prefix}${f.name} (${f.repeated ? 'repeated ' : ''}${f.keyType ? `map<${f.keyType}, ${f.type}>` : f.type})`
          if (f.kind === 'message' && !f.repeated && !f.keyType && f.fields) {
            if (await confirm({ message: `Set ${label}?`, default: true })) out[f.name] = await ask(f.fields, `${prefix}${f.name}.`)
          } else if (f.kind === 'enum' && !f.repeated && f.values) {
            out[f.name] = await select({ message: label, choices: f.values.map((v) => ({ name: v, value: v })) })
          } else if (f.type === 'bool' && !f.repeated) {
            out[f.name] = await confirm({ message: label, default: false })
          } else {
            const text = await input({
              message: `${label}${f.repeated || f.keyType || f.kind === 'message' ? ' as JSON' : ''}`,
              validate: (t) => t === '' || parseField(f, t) !== undefined || `not a valid ${f.type}`,
            })
            if (text !== '') out[f.name] = parseField(f, text)
          }
        }
        return out
      }
      value = await ask(method.fields, '')
    } finally {
      this.resume()
    }
    const action = method.fullName
    this.print(this.chalk.dim(`→ ${action} ${JSON.stringify(value)}`))
    this.send(action, this.codec.encode(value, { action, role: 'request' }))
  }

  /** Hands the terminal to @inquirer/prompts: the readline interface goes, and comes back after. */
  private suspend(): void {
    this.suspended = true
    const rl = this.rl
    if (rl) {
      this.history = (rl as unknown as { history: string[] }).history ?? this.history
      this.rl = undefined
      rl.close()
    }
  }

  private resume(): void {
    this.suspended = false
    if (this.ended) return
    this.openPrompt()
    for (const text of this.held.splice(0)) this.print(text)
  }

  // ---- from the server ----

  private attach(session: Session): void {
    this.serverRequests.clear()
    const chalk = this.resultChalk
    session.onPush = (push) => {
      // A whole transaction (CAMP's tx:NAME) is shown only when small: its progress lines said the rest.
      if (push.meta?.type === 'transaction' && push.payload.length > TRANSACTION_SHOWN) {
        this.result(chalk.magenta(`⇠ push ${push.action} (${push.payload.length} bytes, not shown)`))
        return
      }
      this.result(`${chalk.magenta(`⇠ push ${push.action}`)}\n${this.payload(push.payload, push.action, 'push')}`)
    }
    const progress = new TxProgress()
    session.onEvent = (name, data) => {
      // Transactions as progress lines (tx-chunk only at each tenth), other events as they come.
      if (name.startsWith('tx-')) {
        const line = progress.line(name, data)
        if (line !== undefined) this.result(chalk.magenta(`⇠ ${line}`))
        return
      }
      this.result(`${chalk.magenta(`⇠ ${name}`)} ${JSON.stringify(eventJson(data))}`)
    }
    session.onRequest = (request) => {
      const auto = this.settings.autoReply
      const note = auto === undefined ? `answer with /reply ${request.id} STATUS [JSON]` : `auto-replied ${statusText(auto)}`
      this.result(`${chalk.cyan(`⇠ request #${request.id} ${request.action}`)} ${chalk.dim(`(${note})`)}\n${this.payload(request.payload, request.action, 'request')}`)
      if (!this.shared) this.print(this.chalk.cyan(`⇠ request #${request.id} ${request.action} (${note})`))
      if (auto !== undefined) request.respond(auto, Buffer.alloc(0))
      else this.serverRequests.set(request.id, request)
    }
  }

  // ---- leaving ----

  private async quit(code: number, reason: string): Promise<void> {
    if (this.ended) return
    if (!Number.isInteger(code) || code < 1000 || code > 4999) {
      this.print(this.chalk.red('usage: /close [CODE] [REASON] with CODE from 1000 to 4999'))
      return
    }
    this.ended = true
    this.closePrompt()
    await this.link.close(code, reason)
    this.print(this.chalk.dim(`closed ${code}${reason ? ` ${reason}` : ''}`))
    this.finish()
  }

  /** Takes the prompt off the screen for good (nothing after it redraws it). */
  private closePrompt(): void {
    const rl = this.rl
    if (!rl) return
    this.rl = undefined
    readline.clearLine(this.output, 0)
    readline.cursorTo(this.output, 0)
    rl.close()
  }

  private end(code: ExitCode): void {
    if (this.ended) return
    this.ended = true
    this.exitCode = code
    this.finish()
  }

  private finish(): void {
    this.closePrompt()
    this.trimHistory()
    this.resolveEnd?.(this.exitCode)
  }
}

/** A field's input text as its JSON value; undefined when it does not fit the type. */
function parseField(field: ProtoFieldInfo, text: string): unknown {
  const scalar = field.kind === 'scalar' && !field.repeated && !field.keyType
  if (scalar && field.type === 'string') return text
  if (scalar && field.type === 'bytes') return text
  if (scalar && /int64|fixed64/.test(field.type)) return /^-?\d+$/.test(text.trim()) ? text.trim() : undefined
  if (scalar && /int|fixed|double|float/.test(field.type)) {
    const n = Number(text)
    return text.trim() !== '' && Number.isFinite(n) ? n : undefined
  }
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The answer to the URL question: any address the CLI takes (`:5000`, `host:port`, `tcp://`, `unix:`, ...), else why not. */
export function validateTarget(text: string): true | string {
  try {
    parseAddress(text)
    return true
  } catch (err) {
    return err instanceof StmpError ? err.message : String(err)
  }
}

/** Asks for the URL and the content type with prompts (connect started on a terminal without a URL). */
export async function askTarget(flags: ClientFlagValues, context: { input?: NodeJS.ReadableStream; output?: NodeJS.WritableStream } = {}): Promise<string> {
  const { input, select } = await import('@inquirer/prompts')
  // :5000 is where `stmpcat serve` listens by default.
  const url = await input({ message: 'URL (:PORT, HOST:PORT, tcp://, tls://, unix:, ws://, wss://)', default: ':5000', validate: validateTarget }, context)
  const types = ['json', 'msgpack', 'text', 'raw', ...(flags.proto?.length ? ['protobuf'] : [])]
  flags['content-type'] = await select({ message: 'Content type', choices: types.map((t) => ({ name: t, value: t })), default: flags['content-type'] }, context)
  return url.trim()
}

export async function runRepl(url: string | undefined, settings: ReplSettings): Promise<ExitCode> {
  const target = url ?? await askTarget(settings.flags, { input: settings.input, output: settings.output ?? terminalStream() })
  return new Repl(target, settings).run()
}
