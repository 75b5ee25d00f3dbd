import { type AddressInfo, type Server, createServer } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { murmur3Sum32 } from '../../../src/lib/dialects/stmp-go/actions.js'
import { writeUvarint } from '../../../src/lib/dialects/stmp-go/codec.js'
import { runCli, startServe, type ServeProcess } from '../../helpers/cli.js'
import { FIXTURES } from './transcript.js'

/**
 * `--proto` with stmp-go services: requests go out on the action protoc-gen-stmp gives the
 * method, with the input type encoded; answers decode as the output type; a Notify is named and
 * decoded by its action through the same table. A numeric action and a string method need no
 * .proto.
 */
const proto = join(FIXTURES, 'peer.proto')
/** Point {x: 2, label: "hi"} and {x: 3, label: "hi"} in protobuf. */
const POINT_2 = Buffer.from('09000000000000004012026869', 'hex')
const POINT_3 = Buffer.from('09000000000000084012026869', 'hex')

function uvarint(n: number): Buffer {
  const b = Buffer.alloc(10)
  return b.subarray(0, writeUvarint(b, 0, n))
}

let peer: Server
let url: string
const received: Buffer[] = []

beforeAll(async () => {
  // A server that answers as stmp-go does for protobuf: its handshake, a Notify
  // stmpcat.peer.PeerEvents.Moved first, then the answer Point {x: 2, label: "hi"}.
  const handshake = Buffer.concat([Buffer.from('STMP'), Buffer.from([0x00, 33]), Buffer.from('Content-Type:application/protobuf'), Buffer.from([0x00])])
  peer = createServer((socket) => {
    socket.on('error', () => undefined)
    socket.on('data', (d) => {
      received.push(Buffer.from(d))
      if (d.subarray(0, 4).toString() === 'STMP') return void socket.write(handshake)
      if ((d[0] & 0xf0) === 0xa0) {
        socket.write(Buffer.concat([Buffer.from([0xb8]), uvarint(murmur3Sum32('stmpcat.peer.PeerEvents.Moved')), Buffer.from([POINT_3.length]), POINT_3]))
        socket.write(Buffer.concat([Buffer.from([0xc8, d[1], d[2], 0x00, POINT_2.length]), POINT_2]))
      }
      if (d[0] === 0xd8) socket.end(Buffer.from('d80003627965', 'hex'))
    })
  })
  await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r))
  url = `tcp://127.0.0.1:${(peer.address() as AddressInfo).port}`
})

afterAll(() => {
  peer?.close()
})

describe('stmp-go --proto: actions from services', { timeout: 60_000 }, () => {
  it('fetch pkg.Service.Method: action 0x1234 (service<<8|method) without the SA bit, Point encoded, the answer decoded', async () => {
    received.length = 0
    const r = await runCli(['fetch', '--dialect', 'stmp-go', url, 'stmpcat.peer.Echo.Echo', '{"x":1,"label":"a"}', '-t', 'protobuf', '--proto', proto])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ x: 2, label: 'hi' })
    const sent = Buffer.concat(received)
    const request = sent.subarray(sent.indexOf(0xa8))
    // a8 (request + payload) 0100 (mid 1) b424 (0x1234) 0c (12 bytes) Point {x: 1, label: "a"}
    expect(request.subarray(0, 18).toString('hex')).toBe('a80100b4240c' + '09000000000000f03f120161')
  })

  it('a method without ids goes on its murmur3 action; connect names and decodes the server\'s Notify by its action', async () => {
    received.length = 0
    const c = await runCli(['connect', '--dialect', 'stmp-go', url, '-t', 'protobuf', '--proto', proto], { stdin: '{"action":"stmpcat.peer.Plain.Echo","payload":{"x":1}}\n' })
    expect(c.code).toBe(0)
    const lines = c.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    const push = lines.find((l) => l.action === 'stmpcat.peer.PeerEvents.Moved')
    expect(push).toMatchObject({ payload: { x: 3, label: 'hi' } })
    expect(lines.find((l) => l.status === 200)).toMatchObject({ action: 'stmpcat.peer.Plain.Echo', payload: { x: 2, label: 'hi' } })
    const sent = Buffer.concat(received)
    const request = sent.subarray(sent.indexOf(0xa8))
    expect(request.subarray(3, 8).equals(uvarint(murmur3Sum32('stmpcat.peer.Plain.Echo')))).toBe(true)
  })

  it('without --proto: a numeric action as given, a method name with the SA bit', async () => {
    received.length = 0
    await runCli(['fetch', '--dialect', 'stmp-go', url, '0x1234', '{}'])
    await runCli(['fetch', '--dialect', 'stmp-go', url, 'stmpcat.peer.Echo.Echo', '{}'])
    const requests = received.filter((d) => (d[0] & 0xf0) === 0xa0)
    expect(requests[0].subarray(0, 5).toString('hex')).toBe('a80100b424')
    expect(requests[1].subarray(0, 4).toString('hex')).toBe('aa010016')
    expect(requests[1].subarray(4, 26).toString()).toBe('stmpcat.peer.Echo.Echo')
  })
})

describe('stmpcat serve --dialect stmp-go --proto', { timeout: 60_000 }, () => {
  let serve: ServeProcess
  beforeAll(async () => {
    serve = await startServe(['--dialect', 'stmp-go', 'tcp://127.0.0.1:0', '--proto', proto, '--log'])
  }, 30_000)
  afterAll(async () => {
    await serve?.stop()
  })

  it('the request arrives named by its method (action 0x1234 -> stmpcat.peer.Echo.Echo), echoed as protobuf', async () => {
    const r = await runCli(['fetch', '--dialect', 'stmp-go', serve.urls[0], 'stmpcat.peer.Echo.Echo', '{"x":1.5,"label":"z"}', '-t', 'protobuf', '--proto', proto])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ x: 1.5, label: 'z' })
    await new Promise((res) => setTimeout(res, 200))
    const frames = serve.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(frames.some((f) => f.action === 'stmpcat.peer.Echo.Echo')).toBe(true)
  })
})
