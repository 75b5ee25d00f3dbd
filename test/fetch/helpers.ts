import net from 'node:net'
import { afterEach } from 'vitest'
import { type ServerOptions, StmpServer } from '../../src/lib/session/index.js'
import { formatAddress, parseAddress } from '../../src/lib/transport/index.js'
import { tempDir as makeTempDir } from '../helpers/tmp.js'

/** In-process servers and raw sockets for the fetch/push end-to-end tests; closed after each test. */
const servers: StmpServer[] = []
const raw: net.Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close(200)))
  for (const r of raw.splice(0)) r.close()
})

export interface Started {
  server: StmpServer
  url: string
  /** Connections accepted so far (handshake done). */
  connections(): number
}

export async function startServer(listenUrl: string, options: ServerOptions = {}): Promise<Started> {
  let count = 0
  const server = new StmpServer({
    ...options,
    onConnection: (s) => {
      count++
      options.onConnection?.(s)
    },
  })
  servers.push(server)
  const listener = await server.listen(parseAddress(listenUrl, { listening: true }))
  return { server, url: formatAddress(listener.address), connections: () => count }
}

/** A plain TCP server: `onSocket` gets every accepted socket. Returns `tcp://127.0.0.1:PORT`. */
export async function startRawServer(onSocket: (socket: net.Socket) => void): Promise<{ url: string; accepted(): number }> {
  let accepted = 0
  const server = net.createServer((socket) => {
    accepted++
    socket.on('error', () => undefined)
    onSocket(socket)
  })
  raw.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return { url: `tcp://127.0.0.1:${port}`, accepted: () => accepted }
}

export function tempDir(): string {
  return makeTempDir('stmpcat-fetch-')
}

export { testCertificate } from '../helpers/tls.js'

/** The error code of a `--json` error envelope on stdout. */
export function jsonErrorCode(stdout: string): string {
  return (JSON.parse(stdout) as { error: { code: string } }).error.code
}
