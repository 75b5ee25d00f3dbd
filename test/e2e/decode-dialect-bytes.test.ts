import { describe, expect, it } from 'vitest'
import { runCli } from '../helpers/cli.js'

/** `decode --dialect NAME` of input that is not a capture: hex, an xxd dump, raw bytes, one WebSocket message. */
describe('decode --dialect of hex, dumps and raw bytes', () => {
  const parse = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)

  it('raw Sockhop lines from the client: a request by its uuid; a line cut by the end of input is TRUNCATED (exit 5)', async () => {
    const r = await runCli(['decode', '--dialect', 'sockhop', '--input', 'raw', '--json'], { stdin: '{"type":"Widget","data":{"w":1},"id":"abc"}\n{"type":"Ping"' })
    expect(r.code).toBe(5)
    const lines = parse(r.stdout)
    expect(lines[0]).toMatchObject({ dialect: 'sockhop', direction: 'client', kind: 'request', type: 'Widget', uuid: 'abc', payload: { w: 1 }, offset: 0 })
    expect(lines[1]).toMatchObject({ error: 'TRUNCATED', offset: 44 })
    expect(r.stderr).toContain('1 frame, 1 protocol error (TRUNCATED) in 58 bytes of raw input (Sockhop 1.x, client side)')
  })

  it('an xxd dump of the server side (--from server): a callback answer, exit 0', async () => {
    const line = Buffer.from('{"type":"Widget","data":{"w":1},"callback_id":"abc"}\n')
    const xxd = line.toString('hex').match(/.{1,32}/g)!.map((h, i) => `${(i * 16).toString(16).padStart(8, '0')}: ${h.match(/.{1,4}/g)!.join(' ')}  ................`).join('\n')
    const r = await runCli(['decode', '--dialect', 'sockhop', '--from', 'server', '--json'], { stdin: `${xxd}\n` })
    expect(r.code).toBe(0)
    expect(parse(r.stdout)).toEqual([expect.objectContaining({ direction: 'server', kind: 'response', callbackId: 'abc', status: 200, payload: { w: 1 } })])
    expect(r.stderr).toContain('of xxd input (Sockhop 1.x, server side)')
  })

  it('one Stocking WebSocket text message; a message Stocking cannot read is BAD_MESSAGE (exit 5)', async () => {
    const ok = await runCli(['decode', '--dialect', 'stocking', '--transport', 'websocket', '--format', 'text', '--json'], { stdin: '4,1,{"e":"echo","p":{"x":1}}' })
    expect(ok.code).toBe(0)
    expect(parse(ok.stdout)).toEqual([expect.objectContaining({ kind: 'request', id: 1, action: 'echo', payload: { x: 1 } })])
    const bad = await runCli(['decode', '--dialect', 'stocking', '--transport', 'websocket', '--format', 'text', '--json'], { stdin: '3' })
    expect(bad.code).toBe(5)
    expect(parse(bad.stdout)[0]).toMatchObject({ error: 'BAD_MESSAGE' })
  })

  it('--from without a dialect, and --port PORT=NAME without a capture, are BAD_FLAG (exit 2)', async () => {
    const from = await runCli(['decode', '--from', 'server'], { stdin: '03 00 00 07' })
    expect(from.code).toBe(2)
    expect(from.stderr).toContain('BAD_FLAG: --from is for dialects other than stmp-v3')
    const port = await runCli(['decode', '--port', '7000=sockhop'], { stdin: '03 00 00 07' })
    expect(port.code).toBe(2)
    expect(port.stderr).toContain('BAD_FLAG')
  })
})
