import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { buildCapture } from '../../helpers/pcap-writer.js'
import { tempDir } from '../../helpers/tmp.js'
import { FIXTURES, loggedMessages, wsConversation } from './transcript.js'

/**
 * `decode` in the stocking dialect: the real Stocking server's capture (fixtures/README.md),
 * by `--dialect` and sniffed; and a capture built from every message of the real transcript.
 */
const pcap = join(FIXTURES, 'stocking-echo.pcap')
const connection = '127.0.0.1:43916 -> 127.0.0.1:5111'

const parse = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)

/** What the capture holds, message by message (checked against its bytes by hand, fixtures/README.md). */
const expected = [
  { direction: 'server', kind: 'connect' },
  { direction: 'client', kind: 'ping' },
  { direction: 'server', kind: 'pong' },
  { direction: 'client', kind: 'request', id: 7, ccode: '7', action: 'echo', payload: { x: 1 } },
  { direction: 'server', kind: 'response', id: 7, ccode: '7', status: 200, code: -1, payload: { x: 1 } },
  { direction: 'client', kind: 'request', id: 8, ccode: '8', action: 'greet', payload: { name: 'doge' } },
  { direction: 'server', kind: 'response', id: 8, ccode: '8', status: 200, code: -1, payload: 'Hello doge' },
  { direction: 'client', kind: 'request', id: 9, ccode: '9', action: 'nothere', payload: {} },
  { direction: 'server', kind: 'response', id: 9, ccode: '9', status: 200, code: -1, payload: 'oops' },
  // The WebSocket close handshake: the client's close frame and the server's answer.
  { direction: 'client', kind: 'ws-close', code: 1000, reason: '' },
  { direction: 'server', kind: 'ws-close', code: 1000, reason: '' },
]

describe('decode --dialect stocking: the real server\'s capture', () => {
  it('--dialect stocking --json: each message once, in order, no error line, exit 0', async () => {
    const r = await runCli(['decode', pcap, '--dialect', 'stocking', '--json'])
    expect(r.code).toBe(0)
    const lines = parse(r.stdout)
    expect(lines.some((l) => 'error' in l)).toBe(false)
    expect(lines).toHaveLength(expected.length)
    lines.forEach((l, i) => {
      const { time: _t, offset: _o, length: _l, ...rest } = l
      expect(rest).toEqual({ connection, dialect: 'stocking', ...expected[i] })
    })
    // Offsets are the WebSocket payloads' places in each direction's stream (after the 101's 129 bytes).
    expect(lines[0]).toMatchObject({ offset: 129, length: 1 })
    expect(lines[4]).toMatchObject({ offset: 135, length: 24 })
    expect(r.stderr).toContain(`${connection}: stocking (--dialect)`)
    expect(r.stderr).toMatch(/11 frames, 0 errors/)
  })

  it('sniffed: a connection no flag names is recognised as stocking among the other dialects', async () => {
    // --port on another port takes decode to the dialects' path; 5111 itself is named by nothing.
    const r = await runCli(['decode', pcap, '--port', '5112=ndjson', '--json'])
    expect(r.code).toBe(0)
    expect(r.stderr).toContain(`${connection}: stocking (sniffed)`)
    const lines = parse(r.stdout)
    expect(lines.map((l) => [l.direction, l.kind, l.id])).toEqual(expected.map((e) => [e.direction, e.kind, e.id]))
    expect(lines.every((l) => l.dialect === 'stocking')).toBe(true)
  })

  it('with no flag at all: sniffed among every dialect (STMP v3 included), the same lines, the dialect named in the summary', async () => {
    const r = await runCli(['decode', pcap, '--json'])
    expect(r.code).toBe(0)
    const lines = parse(r.stdout)
    expect(lines.map((l) => [l.direction, l.kind, l.id])).toEqual(expected.map((e) => [e.direction, e.kind, e.id]))
    expect(lines.every((l) => l.dialect === 'stocking' && l.connection === connection)).toBe(true)
    expect(r.stderr).toMatch(/1 connection \(0 STMP: 0 stream, 0 websocket; 1 stocking; 0 skipped\), 11 frames .*no errors/)
  })

  it('the text output has one line per message', async () => {
    const r = await runCli(['decode', pcap, '--dialect', 'stocking'])
    expect(r.code).toBe(0)
    const out = r.stdout.trim().split('\n')
    expect(out).toHaveLength(11)
    expect(out[3]).toMatch(/-> request id=7 ccode="7" action="echo" payload=\{"x":1\}$/)
    expect(out[6]).toMatch(/<- response id=8 ccode="8" status=200 code=-1 payload="Hello doge"$/)
  })
})

describe('decode --dialect stocking: every message of the real transcript', () => {
  const dir = tempDir('stmpcat-stocking-decode-')
  const messages = loggedMessages()

  it('the transcript has what the wire notes say (the vectors are really there)', () => {
    const texts = messages.map((m) => m.text)
    for (const t of ['0', '3,,', '3', '6,1,room', '5,room,hello, room', '1,0,Channel "nochan" not found', '4,11,', '2,,', '4,1,{"e":"echo","p":"doge"}']) expect(texts).toContain(t)
  })

  it('rooms, errors, an empty answer, a message without callback; what the server drops is shown as such', async () => {
    // One conversation after another: the output is in that order.
    const ordered = [1, 2, 3, 4].flatMap((conn) => messages.filter((m) => m.conn === conn))
    const packets = [1, 2, 3, 4].flatMap((conn, i) => wsConversation(50000 + conn, 12345, messages.filter((m) => m.conn === conn), BigInt(1_800_000_000 + i) * 1_000_000_000n))
    const file = join(dir, 'transcript.pcap')
    writeFileSync(file, buildCapture({ format: 'pcap' }, packets))
    const r = await runCli(['decode', file, '--dialect', 'stocking', '--json'])
    const lines = parse(r.stdout)
    expect(lines).toHaveLength(messages.length)
    const at = (conn: number, text: string) => lines[ordered.findIndex((m) => m.conn === conn && m.text === text)]
    expect(at(1, '4,0,{"e":"echo","p":{"silent":true}}')).toMatchObject({ kind: 'push', ccode: '0', action: 'echo', payload: { silent: true } })
    expect(at(1, '4,9,{"c":0,"p":"boom"}')).toMatchObject({ kind: 'response', id: 9, status: 500, code: 0, message: 'boom' })
    expect(at(1, '4,11,')).toMatchObject({ kind: 'response', id: 11, status: 200 })
    expect(at(1, '4,11,')).not.toHaveProperty('payload')
    expect(at(1, '6,1,room')).toMatchObject({ kind: 'join', room: 'room' })
    expect(at(1, '6,0,room')).toMatchObject({ kind: 'leave', room: 'room' })
    expect(at(2, '5,room,hello, room')).toMatchObject({ direction: 'server', kind: 'broadcast', room: 'room', payload_text: 'hello, room' })
    expect(at(1, '1,0,Channel "nochan" not found')).toMatchObject({ kind: 'error', ccode: '0', message: 'Channel "nochan" not found' })
    expect(at(1, '2,,')).toMatchObject({ kind: 'close' })
    // The two messages that made the real server hang up.
    expect(at(3, '3')).toMatchObject({ direction: 'client', error: 'BAD_MESSAGE' })
    expect(at(4, '4,1,{"e":"echo","p":"doge"}')).toMatchObject({ kind: 'request', id: 1, action: 'echo', payload: 'doge', serverDrops: 'NOT_AN_OBJECT' })
    expect(lines.filter((l) => 'error' in l)).toHaveLength(1)
    expect(r.code).toBe(5)
  })
})
