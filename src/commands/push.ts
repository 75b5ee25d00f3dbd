import { stat } from 'node:fs/promises'
import { Flags } from '@oclif/core'
import { StmpCommand } from '../lib/cli/base-command.js'
import { clientFlags } from '../lib/cli/client-flags.js'
import { dataFlags, openSession, prepareRequest, targetArgs } from '../lib/cli/client-request.js'
import { StmpError } from '../lib/errors.js'
import { type Session, dialectFor, peerCloseError, unsentError } from '../lib/session/index.js'

export interface PushResult {
  action: string
  bytes: number
  /** The close code the server answered with (1000 when the close was clean both ways). */
  closeCode: number
}

export default class Push extends StmpCommand {
  static override summary = 'Send one push (no response) and close cleanly'
  static override description = `Connects, sends a Push frame with ACTION and the payload, then closes with Close 1000 and waits for the server's Close: when push exits 0 the frame was flushed and the server closed the connection cleanly after reading it (wire notes §6). Nothing is printed on stdout unless --json.

The payload is checked against its content type before anything is dialled (BAD_PAYLOAD, exit 2).

Exit codes: 0 ok, 2 usage, 3 cannot connect, handshake refused or the server did not answer the close, 4 timeout, 5 protocol error (docs/exit-codes.md).`

  static override examples = [
    { description: 'Push a JSON event (start a server first: stmpcat serve, which listens on :5000)', command: `<%= config.bin %> <%= command.id %> :5000 chat.message '{"text":"hi"}'` },
    { description: 'Push a file as one text payload', command: `printf 'line1\\nline2\\n' > app.log && <%= config.bin %> <%= command.id %> :5000 log.append -d @app.log -t text` },
    { description: 'Push from stdin with every frame traced on stderr', command: `echo '{"n":1}' | <%= config.bin %> <%= command.id %> tcp://127.0.0.1:5000 metrics.tick -d @- -v` },
  ]

  static override args = targetArgs

  static override flags = {
    ...clientFlags,
    ...dataFlags,
    file: Flags.string({ summary: 'Send FILE as a transaction named ACTION (dialects with transactions: camp), instead of one push; streamed in chunks (memory stays bounded).' }),
  }

  public async run(): Promise<PushResult> {
    const { args, flags } = await this.parse(Push)
    const prepared = await prepareRequest(args, flags, 'push')
    if (flags.file !== undefined) {
      const dialect = await dialectFor(prepared.address, prepared.setup.options.dialect)
      if (!dialect.features.transactions) throw new StmpError('BAD_FLAG', `--file: ${dialect.title} has no transactions (\`stmpcat dialects\` says which have)`)
    }
    // The file is checked before dialling, then streamed by the dialect a chunk at a time (tx-send-file):
    // memory stays bounded whatever its size.
    const size = flags.file === undefined ? 0 : await stat(flags.file).then((st) => {
      if (!st.isFile()) throw new StmpError('BAD_FILE', `--file ${flags.file}: not a regular file`)
      return st.size
    }, (err: NodeJS.ErrnoException) => {
      throw new StmpError('BAD_FILE', `--file ${flags.file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`)
    })
    const session = await openSession(prepared, flags.verbose)
    if (flags.file !== undefined) await sendFile(session, prepared.action, flags.file)
    else session.push(prepared.action, prepared.payload)
    const info = await session.close(1000, '')
    if (info.error) throw session.closedError()
    if (info.unsent > 0) throw unsentError(info.unsent, 'the push was not delivered')
    // The peer's Close in answer to ours tells us it read everything before it (wire notes §6).
    const code = info.remoteCode
    if (code === undefined) {
      throw new StmpError('CONNECTION_CLOSED', 'the server did not answer the close within the close timeout: the push may not have been read')
    }
    if (info.initiator !== 'local' || code !== 1000) {
      const when = info.initiator === 'local' ? '' : ' before the push was sent'
      throw peerCloseError('the server', code, info.remoteReason ?? '', `${when}: the push may not have been read`)
    }
    return { action: prepared.action, bytes: flags.file === undefined ? prepared.payload.length : size, closeCode: code }
  }
}

/** Starts the file's transaction and resolves when the dialect says it went out whole (the event tx-sent), or the session ended. */
function sendFile(session: Session, name: string, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const previous = session.onEvent
    session.onEvent = (event, data) => {
      previous?.(event, data)
      if (event !== 'tx-sent' || data.name !== name) return
      session.onEvent = previous
      if (data.cancelled === true) reject(new StmpError('CONNECTION_CLOSED', `--file ${path}: the transaction was cancelled after ${String(data.bytes)} of ${String(data.size)} bytes`))
      else resolve()
    }
    void session.closed.then(() => resolve())
    session.command('tx-send-file', { name, path })
  })
}
