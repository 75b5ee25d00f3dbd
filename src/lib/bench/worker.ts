import { parentPort } from 'node:worker_threads'
import { LoadRunner } from './load.js'
import type { LoadPlan } from './types.js'
import { serializeError } from '../errors.js'

/**
 * A load worker thread (`--workers N`): runs its share of the connections and posts one tick
 * per measured second and, at the end, its encoded histogram and counters (the parent merges).
 */
const port = parentPort
if (port === null) throw new Error('bench worker must run in a worker thread')

let runner: LoadRunner | undefined

port.on('message', (msg: { type: 'plan'; plan: LoadPlan } | { type: 'start'; at: number } | { type: 'interrupt' } | { type: 'abort' }) => {
  switch (msg.type) {
    case 'plan':
      try {
        runner = new LoadRunner(msg.plan, (tick) => port.postMessage({ type: 'tick', tick }))
      } catch (err) {
        port.postMessage({ type: 'error', error: serializeError(err) })
        return
      }
      runner.connect().then(
        () => port.postMessage({ type: 'ready' }),
        (err: unknown) => port.postMessage({ type: 'error', error: serializeError(err) }),
      )
      return
    case 'start':
      void runner?.run(msg.at).then((report) => port.postMessage({ type: 'done', report }))
      return
    case 'interrupt':
      runner?.interrupt()
      return
    case 'abort':
      runner?.close()
      port.close()
  }
})
