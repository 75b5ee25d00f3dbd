import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocketServer, type WebSocket } from 'ws'
import { spawnCli } from '../../helpers/cli.js'

/**
 * connect's dialect commands and events, in a pipe: `/join ROOM`, `/leave ROOM`,
 * `/broadcast ROOM TEXT` and `{"command": ...}` lines go out as Stocking's 6,1 / 6,0 / 5,room
 * messages; what the server sends beyond requests and pushes (an Error message, a broadcast) comes
 * out as `{"kind":"event",...}` lines. The peer is a real `ws` server that answers as the real
 * Stocking server does (fixtures/stocking/README.md).
 */
describe('connect --dialect stocking: rooms and events in a pipe', () => {
  let wss: WebSocketServer | undefined
  afterEach(() => wss?.close())

  async function peer(onMessage: (ws: WebSocket, text: string) => void): Promise<{ url: string; received: string[] }> {
    const received: string[] = []
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    wss.on('connection', (ws) => {
      ws.send('0')
      ws.on('message', (data: Buffer) => {
        const text = data.toString('utf8')
        received.push(text)
        onMessage(ws, text)
      })
    })
    await once(wss, 'listening')
    return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`, received }
  }

  it('slash commands and command lines reach the wire; an Error message and a broadcast come back as event lines', async () => {
    const { url, received } = await peer((ws, text) => {
      if (text === '6,1,nochan') ws.send('1,0,Channel "nochan" not found')
      if (text === '6,1,lobby') ws.send('5,lobby,{"from":"someone"}')
      // Ping round trip: the marker that everything before it was handled.
      if (text === '3,,') ws.send('3')
    })
    const child = spawnCli(['connect', '--dialect', 'stocking', url])
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)))
    const until = async (test: () => boolean) => {
      const deadline = Date.now() + 5000
      while (!test() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    }
    child.stdin.write('/join lobby\n{"command":"join","room":"nochan"}\n/broadcast lobby hello, room\n{"command":"leave","room":"lobby"}\n{"command":"join"}\n')
    await until(() => received.length >= 4 && /Channel/.test(out) && /someone/.test(out))
    child.stdin.end()
    expect(await exited).toBe(2)
    expect(received.slice(0, 4)).toEqual(['6,1,lobby', '6,1,nochan', '5,lobby,hello, room', '6,0,lobby'])
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toContainEqual({ kind: 'event', event: 'error', ccode: '0', message: 'Channel "nochan" not found' })
    expect(lines.some((l) => JSON.stringify(l).includes('"from":"someone"'))).toBe(true)
    // {"command":"join"} without a room: a coded error line, the pipe goes on, exit 2 (bad input).
    expect(lines).toContainEqual({ error: { code: 'BAD_INPUT', message: 'join needs a "room" (a non-empty string)', line: 5 } })
    expect(err).not.toMatch(/at .*\.js:\d+/)
  })
})
