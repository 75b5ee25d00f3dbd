import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import { dial, parseAddress } from '../../src/lib/transport/index.js'
import type { TransportCloseInfo } from '../../src/lib/transport/transport.js'

// A server that speaks first (stmp-go's handshake answer, CAMP's ENDPOINT_INFO, Stocking's
// Connect) sends its first message right behind the 101. The session attaches to the transport
// a few ticks after dial() resolves; nothing that arrived in between may be lost.
describe('WebSocket transport before attach()', () => {
  let wss: WebSocketServer | undefined
  afterEach(() => wss?.close())

  async function server(onConnection: (ws: import('ws').WebSocket) => void): Promise<number> {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    wss.on('connection', onConnection)
    await once(wss, 'listening')
    return (wss.address() as AddressInfo).port
  }

  it('keeps messages sent with the upgrade and replays them in order on attach', async () => {
    const port = await server((ws) => { ws.send('first'); ws.send(Buffer.from([1, 2, 3])); ws.send('third') })
    const transport = await dial(parseAddress(`ws://127.0.0.1:${port}/`), {})
    await new Promise((r) => setTimeout(r, 100)) // the messages have arrived by now
    const got: Array<[string, boolean]> = []
    transport.attach({ onData: (d, text) => got.push([text ? d.toString() : d.toString('hex'), text]), onDrain: () => undefined, onClose: () => undefined })
    expect(got).toEqual([['first', true], ['010203', false], ['third', true]])
    transport.destroy()
  })

  it('keeps a close that came before attach, after the messages before it', async () => {
    const port = await server((ws) => { ws.send('bye'); ws.close(4001, 'go away') })
    const transport = await dial(parseAddress(`ws://127.0.0.1:${port}/`), {})
    await new Promise((r) => setTimeout(r, 150))
    const events: string[] = []
    let closed: TransportCloseInfo | undefined
    transport.attach({ onData: (d) => events.push(`data ${d.toString()}`), onDrain: () => undefined, onClose: (info) => { closed = info; events.push('close') } })
    expect(events).toEqual(['data bye', 'close'])
    expect(closed).toMatchObject({ code: 4001, reason: 'go away' })
  })
})
