import { StmpServer, type Handler } from '../../src/lib/session/server.js'
import { parseAddress } from '../../src/lib/transport/index.js'

/** An StmpServer on 127.0.0.1 port 0 in this process (echo unless a handler is given). */
export async function startServer(handler?: Handler['request'], scheme: 'tcp' | 'ws' = 'tcp', token?: string): Promise<{ url: string; server: StmpServer; close(): Promise<void> }> {
  const server = new StmpServer({ handler, token })
  const listener = await server.listen(parseAddress(`${scheme}://127.0.0.1:0${scheme === 'ws' ? '/stmp' : ''}`, { listening: true }))
  const url = `${scheme}://127.0.0.1:${listener.address.port}${scheme === 'ws' ? '/stmp' : ''}`
  return { url, server, close: () => server.close(200) }
}

/** A port nothing listens on: bound, then closed. */
export async function deadPort(): Promise<number> {
  const { createServer } = await import('node:net')
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** Every 50th request is held 200 ms (what `serve --routes` does with `delay: {time: 200ms, every: 50}`). */
export function every50thDelayed(): Handler['request'] {
  let n = 0
  return (request) => {
    n++
    if (n % 50 === 0) return new Promise((r) => setTimeout(() => r({ status: 200, payload: request.payload }), 200))
    return { status: 200, payload: request.payload }
  }
}
