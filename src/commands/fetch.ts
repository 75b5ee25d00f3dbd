import { Flags } from '@oclif/core'
import { StmpCommand } from '../lib/cli/base-command.js'
import { clientFlags } from '../lib/cli/client-flags.js'
import { type PreparedRequest, dataFlags, openSession, prepareRequest, targetArgs } from '../lib/cli/client-request.js'
import { checkWaitReply, requestAndWaitReply } from '../lib/cli/wait-reply.js'
import { StmpError } from '../lib/errors.js'
import { chalkFor } from '../lib/render/colors.js'
import { payloadValue, renderPayload } from '../lib/render/payload-output.js'
import { redactHeaders, statusText } from '../lib/render/trace.js'
import { type IncomingPush, type ResponseInfo, type Session, dialectFor, isErrorClose, peerCloseError, unsentError } from '../lib/session/index.js'

export interface FetchEnvelope {
  status: number
  latency: number | null
  elapsed: number
  id: number
  action: string
  headers: Record<string, string>
  contentType: string
  payload: unknown
  /** --wait-reply: the server's next message after the ACK. */
  reply?: { action: string; payload: unknown }
}

export default class Fetch extends StmpCommand {
  static override summary = 'Send one request and print the response payload'
  static override description = `Connects, sends ACTION with the payload, prints the response payload on stdout and closes (Close 1000).

stdout carries only the payload: JSON pretty and coloured on a terminal, one compact line in a pipe; msgpack and protobuf decoded to JSON; text as text; raw bytes unchanged. -i and -v write to stderr. A non-2xx response prints its message on stderr and exits 6 (4xx) or 7 (5xx); with --json the envelope goes to stdout and the exit code is the same.

The payload is checked against its content type before anything is dialled: bad JSON or protobuf fields exit 2 (BAD_PAYLOAD) without connecting.

Exit codes: 0 ok, 2 usage, 3 cannot connect or handshake refused, 4 timeout, 5 protocol error, 6 4xx, 7 5xx (docs/exit-codes.md).`

  static override examples = [
    { description: 'Echo a JSON payload (start a server first: stmpcat serve, which listens on :5000)', command: `<%= config.bin %> <%= command.id %> :5000 test.echo '{"hello":"world"}'` },
    { description: 'Payload from a file; status and server latency on stderr', command: `echo '{"id":7}' > user.json && <%= config.bin %> <%= command.id %> tcp://127.0.0.1:5000 user.get -d @user.json -i --server-latency` },
    { description: 'Payload from stdin, with a handshake header', command: `echo '{"id":1}' | <%= config.bin %> <%= command.id %> :5000 user.get -d @- -H 'X-Trace: 1'` },
    { description: 'The whole response envelope as one JSON line', command: `<%= config.bin %> <%= command.id %> :5000 test.echo '[1,2]' --json` },
    { description: 'Protobuf (from the repository root), every frame traced on stderr', command: `<%= config.bin %> <%= command.id %> :5000 echo.v1.Echo/Say '{"text":"hi","id":"7"}' -t protobuf --proto examples/echo.proto -v` },
  ]

  static override args = targetArgs

  static override flags = {
    ...clientFlags,
    ...dataFlags,
    include: Flags.boolean({ char: 'i', summary: 'Show the status, server latency and round trip on stderr before the payload.' }),
    'wait-reply': Flags.boolean({ summary: 'After the ACK, print the next data frame from the server (dialects whose ACK is the response: camp); exit 4 when none comes within --timeout.' }),
  }

  public async run(): Promise<FetchEnvelope | undefined> {
    const { args, flags } = await this.parse(Fetch)
    const prepared = await prepareRequest(args, flags, 'request')
    if (flags['wait-reply']) checkWaitReply(await dialectFor(prepared.address, prepared.setup.options.dialect))
    const session = await openSession(prepared, flags.verbose)
    let response: ResponseInfo
    let reply: IncomingPush | undefined
    try {
      if (flags['wait-reply']) ({ response, reply } = await requestAndWaitReply(session, prepared.action, prepared.payload, prepared.setup.timeout))
      else response = await session.request(prepared.action, prepared.payload, { timeout: prepared.setup.timeout })
    } catch (error) {
      await session.close(1000, '')
      throw error
    }
    const info = await session.close(1000, '')
    // A peer that closes with an error (1009 over its limit, 1002) failed the exchange, whatever it
    // answered before: report the Close for what it is, not as a status (issue 18).
    if ((response.status < 200 || response.status > 299) && isErrorClose(info.remoteCode)) {
      throw peerCloseError('the server', info.remoteCode, info.remoteReason ?? '', ` after answering ${statusText(response.status)}`)
    }
    // Nothing is lost silently: frames that never went out fail the run (issue 18).
    if (info.unsent > 0) throw unsentError(info.unsent, 'frames queued before the close were not sent')
    return this.output(session, prepared, response, flags.include, reply)
  }

  private output(session: Session, prepared: PreparedRequest, response: ResponseInfo, include: boolean, reply?: IncomingPush): FetchEnvelope | undefined {
    const { codec } = prepared.setup
    const ctx = { action: prepared.action, role: 'response' as const, status: response.status }
    if (include) {
      const latency = response.latency === null ? '' : ` latency=${response.latency}ms`
      process.stderr.write(`< ${statusText(response.status)}${latency} elapsed=${response.elapsed.toFixed(3)}ms content-type=${session.contentType}\n`)
    }
    if (response.status < 200 || response.status > 299) {
      const hint = response.meta?.hint === undefined ? '' : ` (${response.meta.hint})`
      const failure = new StmpError('STATUS', `${statusText(response.status)}: ${response.payload.toString('utf8')}${hint}`, { status: response.status })
      if (!this.jsonEnabled()) throw failure
      this.setExitCode(failure.exitCode)
    }
    const replyCtx = reply === undefined ? undefined : { action: reply.action, role: 'push' as const }
    if (include && reply !== undefined) process.stderr.write(`< reply ${reply.action} ${reply.payload.length} bytes\n`)
    if (this.jsonEnabled()) {
      return {
        status: response.status,
        latency: response.latency,
        elapsed: Math.round(response.elapsed * 1000) / 1000,
        id: response.id,
        action: response.action,
        headers: redactHeaders(session.headers),
        ...(response.meta?.headers !== undefined ? { responseHeaders: response.meta.headers } : {}),
        contentType: session.contentType,
        payload: payloadValue(codec, response.payload, ctx),
        ...(reply !== undefined && replyCtx !== undefined ? { reply: { action: reply.action, payload: payloadValue(codec, reply.payload, replyCtx) } } : {}),
      }
    }
    // --wait-reply: the reply is what is printed (the ACK has no payload).
    const out = reply !== undefined && replyCtx !== undefined
      ? renderPayload(codec, reply.payload, replyCtx, { tty: process.stdout.isTTY === true, chalk: chalkFor(process.stdout) })
      : renderPayload(codec, response.payload, ctx, { tty: process.stdout.isTTY === true, chalk: chalkFor(process.stdout) })
    if (out.warning) process.stderr.write(`stmpcat: warning: ${out.warning}\n`)
    process.stdout.write(out.data)
    return undefined
  }
}
