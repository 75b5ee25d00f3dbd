import { parentPort, workerData } from 'node:worker_threads'
import { StmpServer, echoHandler } from '../session/server.js'
import { parseAddress } from '../transport/index.js'

/**
 * The embedded target of `stmpcat bench` with no URL: the real StmpServer (echo handler) in its
 * own thread, so it never shares the event loop with the load. Pushes are echoed back as pushes,
 * so `--push` measures both directions.
 */
const port = parentPort
if (port === null) throw new Error('embedded-worker must run in a worker thread')

const { dialect, scheme } = (workerData ?? {}) as { dialect?: string; scheme?: string }

const server = new StmpServer({
  dialect,
  handler: { ...echoHandler, push: (push, session) => { session.push(push.action, push.payload) } },
})

server.listen(parseAddress(`${scheme ?? 'tcp'}://127.0.0.1:0`, { listening: true })).then(
  (listener) => port.postMessage({ type: 'listening', port: listener.address.port }),
  (err: unknown) => port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
)

port.on('message', (msg: { type: string }) => {
  if (msg.type !== 'close') return
  void server.close(500).finally(() => {
    port.postMessage({ type: 'closed' })
    port.close()
  })
})
