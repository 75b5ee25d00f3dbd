import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { FIXTURES } from './transcript.js'

/**
 * `decode` of every real stmp-go capture (test/fixtures/stmp-go/README.md): exactly the
 * exchanges the peers README lists, in order, and no error line.
 */
type Line = Record<string, unknown>
const parse = (stdout: string): Line[] => stdout.trim().split('\n').map((l) => JSON.parse(l) as Line)
const strip = ({ time: _t, offset: _o, length: _l, connection: _c, dialect: _d, ...rest }: Line) => rest

const ok = '0x00 Ok'
const tcpHandshakes = (type: string) => [
  { direction: 'client', kind: 'handshake', version: '1.0', headers: { Accept: type } },
  { direction: 'server', kind: 'handshake', status: 200, wireStatus: ok, headers: { 'Content-Type': type } },
]
const closes = [
  { direction: 'client', kind: 'close', status: 1000, wireStatus: ok, message: 'bye' },
  { direction: 'server', kind: 'close', status: 1000, wireStatus: ok, message: 'bye' },
]
/** After the Close packets, stmp-go's WebSocket close 1000 "OK", answered 1000. */
const wsCloses = [
  { direction: 'server', kind: 'ws-close', code: 1000, reason: 'OK' },
  { direction: 'client', kind: 'ws-close', code: 1000, reason: '' },
]
/** stmp-go's second Close: its head and status went out, the rest met the closed socket. */
const secondClose = { direction: 'client', kind: 'close', wireStatus: '0x02 NetworkError', cut: "3 bytes (stmp-go's second Close after the close handshake, cut by the peer's close)" }
const echo = (id: number, payload: Line) => [
  { direction: 'client', kind: 'request', id, action: '0x1234', ...payload },
  { direction: 'server', kind: 'response', id, status: 200, wireStatus: ok, ...payload },
]

const PB = '2a100a0e0a0178120911000000000000f03f'
const PB_FIELDS = { protobuf: { 5: { 1: { 1: 'x', 2: { 2: 1 } } } } }

const CASES: Record<string, Line[][]> = {
  'stmpgo-tcp-json.pcap': [[...tcpHandshakes('application/json'), ...echo(1, { payload: { x: 1 } }), ...echo(2, { payload: { x: 1 } }), ...closes, secondClose]],
  'stmpgo-tcp-msgpack.pcap': [[...tcpHandshakes('application/msgpack'), ...echo(1, { payload_hex: '81a17801', value: { x: 1 } }), ...echo(2, { payload_hex: '81a17801', value: { x: 1 } }), ...closes, secondClose]],
  'stmpgo-tcp-protobuf.pcap': [[
    ...tcpHandshakes('application/protobuf'),
    // A google.protobuf.Value {struct_value (5) {fields (1) {key (1) "x", value (2) {number_value (2) 1}}}}:
    // without a .proto, its wire fields by number.
    ...echo(1, { payload_hex: PB, value: PB_FIELDS }), ...echo(2, { payload_hex: PB, value: PB_FIELDS }), ...closes, secondClose,
  ]],
  'stmpgo-tcp-notify-fail.pcap': [
    [
      ...tcpHandshakes('application/json'),
      { direction: 'client', kind: 'request', id: 1, action: '0x1235', payload: { n: 1 } },
      { direction: 'server', kind: 'notify', action: '0x99', payload: { n: 1 } },
      { direction: 'server', kind: 'response', id: 1, status: 200, wireStatus: ok, payload: { n: 1 } },
      // Quirk 2: the stmp-go client answers the Notify with a Response mid 0.
      { direction: 'client', kind: 'response', id: 0, status: 404, wireStatus: '0x22 NotFound', message: 'NotFound' },
      ...closes, secondClose,
    ],
    [
      ...tcpHandshakes('application/json'),
      { direction: 'client', kind: 'request', id: 1, action: '0x1236', payload: { x: 1 } },
      { direction: 'server', kind: 'response', id: 1, status: 400, wireStatus: '0x20 BadRequest', message: 'nope' },
      ...closes, secondClose,
    ],
  ],
  'stmpgo-ws-binary.pcap': [[
    { direction: 'server', kind: 'handshake', status: 200, wireStatus: ok, headers: { 'Content-Type': 'application/json' }, request: { Accept: 'application/json', 'Stmp-Version': '1.0' } },
    ...echo(1, { payload: { x: 1 } }), ...echo(2, { payload: { x: 1 } }), ...closes, ...wsCloses,
  ]],
  'stmpgo-ws-text.pcap': [[
    { direction: 'server', kind: 'handshake', status: 200, wireStatus: ok, headers: { 'Content-Type': 'application/json', 'Packet-Format': 'text' }, request: { Accept: 'application/json', 'Accept-Packet-Format': 'text', 'Packet-Format': 'text', 'Stmp-Version': '1.0' } },
    ...echo(1, { payload: { x: 1 } }), ...echo(2, { payload: { x: 1 } }), ...closes, ...wsCloses,
  ]],
}

describe('decode --dialect stmp-go: every real capture', () => {
  for (const [file, connections] of Object.entries(CASES)) {
    it(`${file}: exactly the listed exchanges, no error line, exit 0`, async () => {
      const r = await runCli(['decode', join(FIXTURES, file), '--dialect', 'stmp-go', '--json'])
      expect(r.stderr).toMatch(/, 0 errors/)
      expect(r.code).toBe(0)
      const lines = parse(r.stdout)
      expect(lines.some((l) => 'error' in l)).toBe(false)
      const byConnection = new Map<string, Line[]>()
      for (const l of lines) byConnection.set(l.connection as string, [...(byConnection.get(l.connection as string) ?? []), l])
      expect([...byConnection.values()].map((ls) => ls.map(strip))).toEqual(connections)
      expect(lines.every((l) => l.dialect === 'stmp-go')).toBe(true)
    })
  }

  it('without --dialect: every capture is recognised as stmp-go (the STMP magic, the upgrade query) and gives the same lines', async () => {
    for (const [file, connections] of Object.entries(CASES)) {
      const r = await runCli(['decode', join(FIXTURES, file), '--json'])
      expect(r.code, file).toBe(0)
      expect(r.stderr, file).toMatch(new RegExp(`; ${connections.length} stmp-go; 0 skipped\\), .*no errors`))
      const byConnection = new Map<string, Line[]>()
      for (const l of parse(r.stdout)) byConnection.set(l.connection as string, [...(byConnection.get(l.connection as string) ?? []), l])
      expect([...byConnection.values()].map((ls) => ls.map(strip)), file).toEqual(connections)
    }
  })

  it('offsets are the packets\' places in each direction\'s bytes (stream: after the handshake)', async () => {
    const r = await runCli(['decode', join(FIXTURES, 'stmpgo-tcp-json.pcap'), '--dialect', 'stmp-go', '--json'])
    const lines = parse(r.stdout)
    expect(lines[0]).toMatchObject({ kind: 'handshake', offset: 0, length: 30 })
    // Request 1: a8 0100 b424 07 {"x":1} = 13 bytes, right after the client's 30-byte handshake.
    expect(lines[2]).toMatchObject({ kind: 'request', offset: 30, length: 13 })
  })

  it('sniffed: a stream starting with STMP and a WebSocket upgrade with Stmp-Version are recognised as stmp-go', async () => {
    // --port on another port takes decode to the dialects' path; 5101 and 5102 are named by nothing.
    for (const file of ['stmpgo-tcp-json.pcap', 'stmpgo-ws-text.pcap']) {
      const r = await runCli(['decode', join(FIXTURES, file), '--port', '9=stmp-go', '--json'])
      expect(r.code).toBe(0)
      expect(r.stderr).toMatch(/: stmp-go \(sniffed\)/)
      expect(parse(r.stdout).every((l) => l.dialect === 'stmp-go' && !('error' in l))).toBe(true)
    }
  })

  it('text lines: one per packet with its fields', async () => {
    const r = await runCli(['decode', join(FIXTURES, 'stmpgo-tcp-notify-fail.pcap'), '--dialect', 'stmp-go'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/<- notify action="0x99" payload=\{"n":1\}/)
    expect(r.stdout).toMatch(/<- response id=1 status=400 wireStatus="0x20 BadRequest" message="nope"/)
  })
})

describe('decode --proto: stmp-go payloads typed by their action', () => {
  const file = join(FIXTURES, 'stmpgo-tcp-proto-point.pcap')
  const proto = join(FIXTURES, 'peer.proto')
  const point = (x: number, label: string) => ({ x, label })
  const twice = (id: number, x: number, label: string) => [
    { direction: 'client', kind: 'request', id, action: 'stmpcat.peer.Echo.Twice', actionId: '0x1235', value: point(x, label) },
    { direction: 'server', kind: 'notify', action: 'stmpcat.peer.PeerEvents.Moved', actionId: '0x8F938BE2', value: point(x, 'moved') },
    { direction: 'server', kind: 'response', id, status: 200, method: 'stmpcat.peer.Echo.Twice', value: point(x * 2, label + label) },
    // Quirk 2: the real client answers every Notify with a Response of mid 0.
    { direction: 'client', kind: 'response', id: 0, status: 404, wireStatus: '0x22 NotFound' },
  ]
  const expected = [
    { kind: 'handshake', headers: { Accept: 'application/protobuf' } },
    { kind: 'handshake', headers: { 'Content-Type': 'application/protobuf' } },
    ...twice(1, 0.5, 'go-0'), ...twice(2, 1.5, 'go-1'),
    { kind: 'close', message: 'bye' }, { kind: 'close', message: 'bye' }, { kind: 'close', wireStatus: '0x02 NetworkError' },
  ]

  it('requests and Notifies as the method\'s input type, responses as the output of the request with their mid; named actions', async () => {
    for (const args of [['--dialect', 'stmp-go'], []]) {
      const r = await runCli(['decode', file, ...args, '--proto', proto, '--json'])
      expect(r.code, args.join(' ')).toBe(0)
      const lines = parse(r.stdout)
      expect(lines.some((l) => 'error' in l || 'protoError' in l)).toBe(false)
      expect(lines).toMatchObject(expected)
    }
  })

  it('without --proto the same packets keep their numeric actions and show protobuf\'s wire fields', async () => {
    const r = await runCli(['decode', file, '--dialect', 'stmp-go', '--json'])
    expect(r.code).toBe(0)
    const lines = parse(r.stdout)
    expect(lines[2]).toMatchObject({ kind: 'request', action: '0x1235', value: { protobuf: { 1: 0.5, 2: 'go-0' } } })
    expect(lines[2]).not.toHaveProperty('actionId')
    // Protobuf bytes that happen to be UTF-8 (control bytes and all) show as hex, not as text.
    expect(lines.every((l) => !('payload_text' in l))).toBe(true)
  })

  it('text lines: the decoded value first', async () => {
    const r = await runCli(['decode', file, '--dialect', 'stmp-go', '--proto', proto])
    expect(r.stdout).toMatch(/-> request value=\{"x":0\.5,"label":"go-0"\} id=1 action="stmpcat\.peer\.Echo\.Twice"/)
  })

  it('a payload that is not its method\'s type: the wire fields and why, not a crash', async () => {
    // The shared capture's payloads are google.protobuf.Value, not Point: fields 5 is unknown to Point, so it decodes, empty.
    const r = await runCli(['decode', join(FIXTURES, 'stmpgo-tcp-protobuf.pcap'), '--dialect', 'stmp-go', '--proto', proto, '--json'])
    expect(r.code).toBe(0)
    expect(parse(r.stdout)[2]).toMatchObject({ action: 'stmpcat.peer.Echo.Echo', value: { x: 0, label: '' } })
  })
})
