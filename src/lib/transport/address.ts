import { StmpError } from '../errors.js'

/**
 * One address syntax for every command:
 *   tcp://host:port[/path][?query]   tls://host:port[/path][?query]
 *   unix:/path/to.sock[?query]       ws://host:port/path[?query]   wss://host:port/path[?query]
 *   host:port and :port mean tcp.
 * Path and query travel in the handshake (wire notes §8); on WebSocket they are the upgrade URL.
 */

export type Scheme = 'tcp' | 'tls' | 'unix' | 'ws' | 'wss'
export const SCHEMES: readonly Scheme[] = ['tcp', 'tls', 'unix', 'ws', 'wss']

export interface Address {
  scheme: Scheme
  /** Host name or IP (IPv6 without brackets); empty for unix. */
  host: string
  port: number
  /** The socket file for unix. */
  socketPath?: string
  /** The STMP path: the handshake URL's path on streams, the upgrade path on WebSocket. */
  path: string
  query: URLSearchParams
  /** `NAME+scheme://...`: the dialect this address speaks (stmp-go+tcp://...); else the command's --dialect. */
  dialect?: string
}

export function isStreamScheme(scheme: Scheme): boolean {
  return scheme === 'tcp' || scheme === 'tls' || scheme === 'unix'
}

function bad(text: string, why: string): StmpError {
  return new StmpError('BAD_URL', `${JSON.stringify(text)}: ${why} (expected tcp://host:port, tls://host:port, unix:/path.sock, ws://host:port/path, wss://host:port/path, host:port or :port)`)
}

/**
 * Parses an address. `listening` allows an empty host (all interfaces are not used: an empty
 * host binds 127.0.0.1 unless given, the safe default for a mock server) and port 0.
 */
export function parseAddress(text: string, options: { listening?: boolean } = {}): Address {
  const input = text.trim()
  if (input === '') throw bad(text, 'empty address')
  // `NAME+scheme:` names the dialect of this one address (stmp-go+tcp://..., sockhop+unix:/x.sock).
  const dialect = /^([a-z][a-z0-9-]*)\+(?=(tcp|tls|unix|ws|wss):)/i.exec(input)
  if (dialect) return { ...parseAddress(input.slice(dialect[0].length), options), dialect: dialect[1].toLowerCase() }
  if (/^unix:/i.test(input)) return parseUnix(input, text)
  let withScheme = input
  const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\//i.exec(input)
  if (!schemeMatch) {
    if (/^[a-z][a-z0-9+.-]*:[^0-9[]/i.test(input) && !/^[^:]+:\d/.test(input)) throw bad(text, 'unknown scheme')
    withScheme = `tcp://${input}`
  }
  // An empty host (`:5000`, `tcp://:5000`) is the loopback address: a mock server binds only
  // there unless told otherwise, and a client finds it there whatever `localhost` resolves to.
  withScheme = withScheme.replace(/^([a-z]+:\/\/)(?=:\d)/i, '$1127.0.0.1')
  const scheme = (schemeMatch?.[1].toLowerCase() ?? 'tcp') as Scheme
  if (!SCHEMES.includes(scheme) || scheme === 'unix') throw bad(text, `unknown scheme ${JSON.stringify(schemeMatch?.[1])}`)
  // The port is checked before WHATWG URL sees it: URL rejects a port past 65535 as a whole
  // ("not a URL"), which hides the one thing that is wrong.
  const explicitPort = /^[a-z]+:\/\/(\[[^\]]*\]|[^/:?#]*):(\d+)(?=[/?#]|$)/i.exec(withScheme)?.[2]
  if (explicitPort !== undefined) {
    const n = Number(explicitPort)
    if (n > 65535 || (n === 0 && !options.listening)) throw bad(text, `port ${explicitPort} is out of range (1-65535${options.listening ? ', or 0 for a free port' : ''})`)
  }
  let url: URL
  try {
    // WHATWG URL only fills host/port for special schemes: parse as http(s) and keep our scheme.
    url = new URL(withScheme.replace(/^[a-z]+:\/\//i, scheme === 'wss' || scheme === 'tls' ? 'https://' : 'http://'))
  } catch {
    throw bad(text, 'not a URL')
  }
  if (url.username || url.password) throw bad(text, 'credentials in the URL are not supported; use --token or -H')
  if (url.hash) throw bad(text, 'a #fragment has no meaning here')
  if (explicitPort === undefined) {
    if (scheme === 'ws' || scheme === 'wss') {
      // ws/wss have the HTTP default ports.
    } else {
      throw bad(text, 'a port is needed')
    }
  }
  const port = explicitPort !== undefined ? Number(explicitPort) : scheme === 'wss' ? 443 : 80
  let host = url.hostname
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  if (host === '') throw bad(text, 'no host')
  return { scheme, host, port, path: url.pathname || '/', query: url.searchParams }
}

function parseUnix(input: string, text: string): Address {
  // unix:/path, unix:///path, unix:relative/path; a ?query carries the connection options.
  let rest = input.replace(/^unix:(\/\/(?=\/))?/i, '')
  let query = new URLSearchParams()
  const q = rest.indexOf('?')
  if (q >= 0) {
    query = new URLSearchParams(rest.slice(q + 1))
    rest = rest.slice(0, q)
  }
  if (rest === '') throw bad(text, 'no socket path')
  return { scheme: 'unix', host: '', port: 0, socketPath: decodeURIComponent(rest), path: '/', query }
}

/** The URL text of an address, for messages and `serve`'s "listening on" lines. */
export function formatAddress(a: Address): string {
  const query = a.query.toString()
  const q = query ? `?${query}` : ''
  if (a.scheme === 'unix') return `unix:${a.socketPath}${q}`
  const host = a.host.includes(':') ? `[${a.host}]` : a.host
  const path = a.path === '/' && isStreamScheme(a.scheme) ? '' : a.path
  return `${a.scheme}://${host}:${a.port}${path}${q}`
}

/** Path and query as the handshake carries them (wire notes §8), e.g. `/?stmp_version=3`. */
export function handshakeUrl(a: Address): string {
  const query = a.query.toString()
  return `${a.path || '/'}${query ? `?${query}` : ''}`
}
