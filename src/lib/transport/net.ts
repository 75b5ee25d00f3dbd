import { existsSync, unlinkSync, statSync } from 'node:fs'
import type * as Http from 'node:http'
import type * as Https from 'node:https'
import net from 'node:net'
import type * as Tls from 'node:tls'
import { StmpError } from '../errors.js'
import { lazyRequire } from '../lazy.js'
import { type Address, formatAddress, handshakeUrl, isStreamScheme } from './address.js'
import { StreamTransport, type Transport, WebSocketTransport } from './transport.js'

// Loaded on first use (docs/startup.md): a tcp client needs none of them.
const http = lazyRequire<typeof Http>('node:http', import.meta.url)
const https = lazyRequire<typeof Https>('node:https', import.meta.url)
const tls = lazyRequire<typeof Tls>('node:tls', import.meta.url)

/** Client TLS settings: `--ca` files' contents, `--insecure`. */
export interface ClientTlsOptions {
  ca?: Buffer[]
  insecure?: boolean
}

export interface DialOptions {
  /** Headers for the WebSocket upgrade (stream transports send them in the STMP handshake). */
  headers?: Record<string, string>
  /** Connect (and WebSocket upgrade) timeout in ms. */
  timeout?: number
  tls?: ClientTlsOptions
  /** Largest WebSocket message accepted (ws maxPayload). */
  maxMessageSize?: number
  perMessageDeflate?: boolean
  /** WebSocket subprotocols offered in the upgrade (a dialect's, e.g. CAMP's `camp`). */
  protocols?: string[]
}

const DEFAULT_CONNECT_TIMEOUT = 10_000

/** Certificate checks that failed: the server spoke TLS, its certificate is not trusted here. */
const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REJECTED',
])

/**
 * A dial that failed, in words a user can act on: what happened and what to try. Raw library
 * texts (OpenSSL's `...:SSL routines:...`, llhttp's `Parse Error: ...`) never reach the user:
 * they mean the listener speaks another transport (issue 18 point 21).
 */
function connectError(address: Address, err: NodeJS.ErrnoException & { reason?: string }): StmpError {
  // The address as the user wrote it: the handshake options added to the query are noise here.
  const target = formatAddress({ ...address, query: new URLSearchParams() })
  const secure = address.scheme === 'tls' || address.scheme === 'wss'
  const websocket = address.scheme === 'ws' || address.scheme === 'wss'
  const other = (scheme: string) => formatAddress({ ...address, scheme: scheme as Address['scheme'], path: scheme === 'ws' || scheme === 'wss' ? address.path : '/', query: new URLSearchParams() })
  const code = err.code ?? ''
  let why: string
  if (code === 'ECONNREFUSED') why = 'connection refused'
  else if (code === 'ENOENT') why = 'no such socket file'
  else if (code === 'ENOTFOUND') why = 'host not found'
  else if (secure && (code.startsWith('ERR_SSL_') || /SSL routines/.test(err.message))) {
    why = `the server did not answer TLS: is it a plain listener (tcp://, ws://)? try ${other(address.scheme === 'tls' ? 'tcp' : 'ws')}`
  } else if (websocket && code.startsWith('HPE_')) {
    why = `the server did not answer HTTP: is it a ${address.scheme === 'ws' ? 'tcp://' : 'tls://'} listener? try ${other(address.scheme === 'ws' ? 'tcp' : 'tls')}`
  } else if (code === 'ECONNRESET' && address.scheme === 'ws') {
    why = `connection reset during the WebSocket upgrade: does the server speak TLS? try ${other('wss')} (or ${other('tls')})`
  } else if (code === 'ECONNRESET' && secure) {
    why = 'connection reset during the TLS handshake'
  } else if (code === 'ECONNRESET') why = 'connection reset'
  else if (CERT_CODES.has(code)) why = `${err.message}: the server's certificate is not trusted here (pass --ca FILE with its CA, or --insecure to skip the check)`
  else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') why = `${err.message} (connect by a name the certificate lists, or --insecure to skip the check)`
  else if (/:error:[0-9A-F]+:/.test(err.message)) why = `TLS failed: ${err.reason ?? 'the TLS handshake did not complete'}`
  else why = err.message
  return new StmpError('CONNECT_FAILED', `cannot connect to ${target}: ${why}`, { cause: err })
}

/** Opens a transport to `address`. Errors: CONNECT_FAILED, TIMEOUT, HANDSHAKE_REFUSED (WebSocket). */
export async function dial(address: Address, options: DialOptions = {}): Promise<Transport> {
  const timeout = options.timeout ?? DEFAULT_CONNECT_TIMEOUT
  if (!isStreamScheme(address.scheme)) return dialWebSocket(address, options, timeout)
  return new Promise<Transport>((resolve, reject) => {
    let socket: net.Socket
    const tlsOptions = { ca: options.tls?.ca, rejectUnauthorized: !options.tls?.insecure, servername: net.isIP(address.host) ? undefined : address.host }
    if (address.scheme === 'unix') socket = net.connect({ path: address.socketPath as string })
    else if (address.scheme === 'tls') socket = tls.connect({ host: address.host, port: address.port, ...tlsOptions })
    else socket = net.connect({ host: address.host, port: address.port })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new StmpError('TIMEOUT', `connecting to ${formatAddress(address)} timed out after ${timeout} ms`))
    }, timeout)
    const onError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(connectError(address, err))
    }
    socket.once('error', onError)
    socket.once(address.scheme === 'tls' ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer)
      socket.off('error', onError)
      resolve(new StreamTransport(socket, address.scheme === 'unix' ? address.socketPath : undefined))
    })
  })
}

async function dialWebSocket(address: Address, options: DialOptions, timeout: number): Promise<Transport> {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host
  const url = `${address.scheme}://${host}:${address.port}${handshakeUrl(address)}`
  // ws is imported here, not at start-up: a tcp, tls or unix client never loads it.
  const { WebSocket } = await import('ws')
  const ws = new WebSocket(url, options.protocols ?? [], {
    headers: options.headers,
    handshakeTimeout: timeout,
    maxPayload: options.maxMessageSize,
    perMessageDeflate: options.perMessageDeflate ?? false,
    ca: options.tls?.ca,
    rejectUnauthorized: !options.tls?.insecure,
  })
  return new Promise<Transport>((resolve, reject) => {
    ws.once('open', () => {
      ws.removeAllListeners('error')
      const socket = (ws as unknown as { _socket: net.Socket })._socket
      resolve(new WebSocketTransport(ws, socket))
    })
    ws.once('unexpected-response', (_req, res) => {
      // The server refused the upgrade: its status and body are the handshake's answer (§8).
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { if (body.length < 4096) body += d })
      res.on('end', () => {
        ws.terminate()
        reject(new StmpError('HANDSHAKE_REFUSED', `handshake refused: ${res.statusCode} ${body.trim() || res.statusMessage}`, { status: res.statusCode }))
      })
    })
    ws.once('error', (err: NodeJS.ErrnoException) => {
      if (/timed out/i.test(err.message)) reject(new StmpError('TIMEOUT', `WebSocket upgrade to ${url} timed out after ${timeout} ms`))
      else reject(connectError(address, err))
    })
  })
}

/** Server TLS settings: `--cert` and `--key` files' contents. */
export interface ServerTlsOptions {
  cert: Buffer
  key: Buffer
}

export interface UpgradeInfo {
  url: string
  headers: Record<string, string>
  remote: string
}

export interface ListenOptions {
  tls?: ServerTlsOptions
  /**
   * Decides a WebSocket upgrade before it is accepted: 200 accepts; anything else refuses with
   * that HTTP status and the message as body (wire notes §8). Stream transports decide in the
   * STMP handshake instead (the session does).
   */
  upgrade?: (info: UpgradeInfo) => { status: number; message: string }
  maxMessageSize?: number
  perMessageDeflate?: boolean
  onConnection(transport: Transport, upgrade?: UpgradeInfo): void
}

export interface Listener {
  /** The bound address (port 0 resolved to the real port). */
  address: Address
  /** Stops accepting; open connections are the session layer's to close. */
  close(): Promise<void>
}

function listenError(address: Address, err: NodeJS.ErrnoException): StmpError {
  const why = err.code === 'EADDRINUSE' ? 'address in use' : err.code === 'EACCES' ? 'permission denied' : err.message
  return new StmpError('LISTEN_FAILED', `cannot listen on ${formatAddress(address)}: ${why}`, { exitCode: 3, cause: err })
}

export async function listen(address: Address, options: ListenOptions): Promise<Listener> {
  if (address.scheme === 'tls' || address.scheme === 'wss') {
    if (!options.tls) throw new StmpError('BAD_FLAG', `${formatAddress(address)} needs --cert and --key`)
  }
  if (address.scheme === 'unix') await removeStaleSocket(address.socketPath as string)
  let server: net.Server
  if (isStreamScheme(address.scheme)) {
    const onSocket = (socket: net.Socket) => options.onConnection(new StreamTransport(socket, address.scheme === 'unix' ? `${address.socketPath}#${socket.remotePort ?? ''}` : undefined))
    server = address.scheme === 'tls'
      ? tls.createServer({ cert: options.tls?.cert, key: options.tls?.key }, onSocket)
      : net.createServer(onSocket)
    if (address.scheme === 'tls') server.on('tlsClientError', (_err, socket) => socket.destroy())
  } else {
    server = await webSocketServer(address, options)
  }
  server.on('error', () => undefined)
  // One promise for both outcomes: events.once(server, 'listening') also rejects on 'error',
  // with the raw error, which would win the race against the coded LISTEN_FAILED.
  const listening = new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(address, err)))
  })
  if (address.scheme === 'unix') server.listen(address.socketPath)
  else server.listen(address.port, address.host)
  await listening
  const bound = server.address()
  const port = typeof bound === 'object' && bound ? bound.port : 0
  return {
    address: { ...address, port },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

async function webSocketServer(address: Address, options: ListenOptions): Promise<net.Server> {
  const { WebSocketServer } = await import('ws')
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageSize, perMessageDeflate: options.perMessageDeflate ?? false })
  const reply = (_req: Http.IncomingMessage, res: Http.ServerResponse) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket', connection: 'Upgrade' })
    res.end('this is an STMP WebSocket endpoint: connect with a WebSocket client\n')
  }
  const server = address.scheme === 'wss' ? https.createServer({ cert: options.tls?.cert, key: options.tls?.key }, reply) : http.createServer(reply)
  server.on('upgrade', (req: Http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const url = req.url ?? '/'
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v
    const info: UpgradeInfo = { url, headers, remote: `${socket.remoteAddress}:${socket.remotePort}` }
    const path = url.split('?')[0]
    const decision = path !== address.path && address.path !== '/'
      ? { status: 404, message: `no STMP endpoint at ${path} (try ${address.path})` }
      : options.upgrade?.(info) ?? { status: 200, message: 'OK' }
    if (decision.status !== 200) {
      const body = Buffer.from(decision.message, 'utf8')
      socket.end(`HTTP/1.1 ${decision.status} ${http.STATUS_CODES[decision.status] ?? 'Refused'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${decision.message}`)
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => options.onConnection(new WebSocketTransport(ws, socket), info))
  })
  return server
}

/** A socket file left by a server that died is removed; one with a live server is not. */
async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return
  if (!statSync(path).isSocket()) throw new StmpError('BAD_URL', `${path} exists and is not a socket`)
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect({ path })
    probe.once('connect', () => { probe.destroy(); resolve(true) })
    probe.once('error', () => resolve(false))
  })
  if (alive) throw new StmpError('LISTEN_FAILED', `cannot listen on unix:${path}: a server is listening there`, { exitCode: 3 })
  unlinkSync(path)
}
