import { Worker } from 'node:worker_threads'
import { loadDialect } from '../dialects/registry.js'
import { StmpError } from '../errors.js'

export interface EmbeddedServer {
  /** `tcp://127.0.0.1:PORT` (`ws://` for a WebSocket-only dialect) */
  url: string
  close(): Promise<void>
}

const START_TIMEOUT_MS = 10_000

/**
 * Starts the embedded echo server (StmpServer) in a worker thread on 127.0.0.1, port 0, in the
 * run's dialect: over tcp, or ws:// for a dialect that runs over WebSocket only.
 */
export async function startEmbeddedServer(dialect = 'stmp-v3'): Promise<EmbeddedServer> {
  const { schemes } = await loadDialect(dialect)
  const scheme = schemes.includes('tcp') ? 'tcp' : 'ws'
  const worker = new Worker(new URL('./embedded-worker.js', import.meta.url), { workerData: { dialect, scheme } })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StmpError('TIMEOUT', `the embedded server did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS)
    worker.once('error', (err) => {
      clearTimeout(timer)
      reject(new StmpError('LISTEN_FAILED', `the embedded server failed: ${err.message}`, { cause: err, exitCode: 3 }))
    })
    worker.on('message', (msg: { type: string; port?: number; message?: string }) => {
      if (msg.type === 'listening') {
        clearTimeout(timer)
        resolve(msg.port as number)
      } else if (msg.type === 'error') {
        clearTimeout(timer)
        reject(new StmpError('LISTEN_FAILED', `the embedded server cannot listen: ${msg.message}`, { exitCode: 3 }))
      }
    })
  }).catch(async (err: unknown) => {
    await worker.terminate()
    throw err
  })
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => {
        worker.on('message', (msg: { type: string }) => { if (msg.type === 'closed') resolve() })
        worker.once('exit', () => resolve())
        setTimeout(resolve, 2000).unref()
      })
      worker.postMessage({ type: 'close' })
      await closed
      await worker.terminate()
    },
  }
}
