import { describe, expect, it } from 'vitest'
import { formatAddress, handshakeUrl, parseAddress } from '../../src/lib/transport/index.js'
import { errorOf } from '../helpers/errors.js'

describe('parseAddress', () => {
  it.each([
    ['tcp://127.0.0.1:5000', { scheme: 'tcp', host: '127.0.0.1', port: 5000, path: '/' }],
    ['localhost:5000', { scheme: 'tcp', host: 'localhost', port: 5000 }],
    [':5000', { scheme: 'tcp', host: '127.0.0.1', port: 5000 }],
    ['tcp://:5001', { scheme: 'tcp', host: '127.0.0.1', port: 5001 }],
    ['ws://:5002/stmp', { scheme: 'ws', host: '127.0.0.1', port: 5002, path: '/stmp' }],
    ['tls://example.com:443', { scheme: 'tls', host: 'example.com', port: 443 }],
    ['ws://127.0.0.1:8080/stmp', { scheme: 'ws', host: '127.0.0.1', port: 8080, path: '/stmp' }],
    ['wss://example.com/stmp', { scheme: 'wss', host: 'example.com', port: 443, path: '/stmp' }],
    ['tcp://[::1]:7000', { scheme: 'tcp', host: '::1', port: 7000 }],
    ['unix:/tmp/s.sock', { scheme: 'unix', socketPath: '/tmp/s.sock' }],
    ['unix:///tmp/s.sock', { scheme: 'unix', socketPath: '/tmp/s.sock' }],
  ])('%s', (text, expected) => {
    expect(parseAddress(text)).toMatchObject(expected)
  })

  it('keeps the path and query for the handshake', () => {
    const a = parseAddress('tcp://127.0.0.1:1/chat?stmp_content_type=application/msgpack&stmp_server_latency=1')
    expect(handshakeUrl(a)).toBe('/chat?stmp_content_type=application%2Fmsgpack&stmp_server_latency=1')
    expect(a.query.get('stmp_content_type')).toBe('application/msgpack')
  })

  it(':port binds 127.0.0.1 when listening, and port 0 is allowed only there', () => {
    expect(parseAddress(':0', { listening: true })).toMatchObject({ host: '127.0.0.1', port: 0 })
    expect(() => parseAddress(':0')).toThrow(expect.objectContaining({ code: 'BAD_URL' }))
  })

  it.each(['', 'http://x:1', 'tcp://host', 'tcp://host:99999', 'unix:', 'ftp://a:1', 'tcp://u:p@h:1', 'localhost'])(
    'rejects %j as BAD_URL (exit 2)',
    (text) => {
      expect(() => parseAddress(text)).toThrow(expect.objectContaining({ code: 'BAD_URL', exitCode: 2 }))
    },
  )

  // issue 18 point 12: WHATWG URL refused these whole, and the user read "not a URL".
  it.each(['tcp://127.0.0.1:99999', 'tls://example.com:65536', 'ws://127.0.0.1:99999/stmp', 'wss://[::1]:70000/stmp', '127.0.0.1:99999', 'localhost:99999', ':99999', 'tcp://:99999'])(
    '%s: BAD_URL says the port is out of range, for clients and listeners',
    (text) => {
      for (const options of [{}, { listening: true }]) {
        const err = errorOf(() => parseAddress(text, options))
        expect(err.code).toBe('BAD_URL')
        expect(err.message).toMatch(/port \d+ is out of range/)
        expect(err.message).not.toMatch(/not a URL/)
      }
    },
  )

  it('formats back to a URL that parses to the same address', () => {
    for (const text of ['tcp://127.0.0.1:5000', 'ws://127.0.0.1:80/x', 'unix:/tmp/a.sock', 'tcp://[::1]:9']) {
      const a = parseAddress(text)
      expect(parseAddress(formatAddress(a))).toMatchObject({ scheme: a.scheme, host: a.host, port: a.port, path: a.path })
    }
  })
})
