import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../../helpers/cli.js'
import { TcpConversation, type TcpPacketOut } from '../../helpers/pcap-writer.js'

/**
 * The WebSocket text messages of test/fixtures/stocking/stocking.log (the real Stocking server
 * and its client through a logging proxy): one entry per `[ws ... op=text]` block, in order.
 */
export interface LoggedMessage {
  conn: number
  from: 'client' | 'server'
  text: string
}

export const FIXTURES = join(ROOT, 'test/fixtures/stocking')

export function loggedMessages(): LoggedMessage[] {
  const lines = readFileSync(join(FIXTURES, 'stocking.log'), 'utf8').split('\n')
  const out: LoggedMessage[] = []
  let conn = 0
  for (let i = 0; i < lines.length; i++) {
    const read = /^\[\+\d+ms\] conn#(\d+) /.exec(lines[i])
    if (read) conn = Number(read[1])
    const ws = /^\s+\[ws (C->S|S->C) fin=1 op=text /.exec(lines[i])
    if (!ws) continue
    const text = /^\s+text=(".*")$/.exec(lines[i + 1])
    if (!text) throw new Error(`stocking.log line ${i + 2}: no text= after a text frame`)
    out.push({ conn, from: ws[1] === 'C->S' ? 'client' : 'server', text: JSON.parse(text[1]) as string })
  }
  return out
}

/** One WebSocket frame (RFC 6455): text, FIN, masked from the client. */
export function wsFrame(payload: Buffer, opcode: number, masked: boolean): Buffer {
  const len = payload.length
  const head = len < 126 ? Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | len]) : Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | 126, len >> 8, len & 0xff])
  if (!masked) return Buffer.concat([head, payload])
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78])
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))
  return Buffer.concat([head, mask, body])
}

/** A TCP conversation with a WebSocket upgrade to /ws, then these messages. */
export function wsConversation(clientPort: number, serverPort: number, messages: { from: 'client' | 'server'; text: string }[], startTime?: bigint): TcpPacketOut[] {
  const conv = new TcpConversation({ client: { ip: '127.0.0.1', port: clientPort }, server: { ip: '127.0.0.1', port: serverPort }, startTime })
  const key = Buffer.from(`stocking-${clientPort}-key`).toString('base64').slice(0, 22) + '=='
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
  const packets = [...conv.handshake()]
  packets.push(...conv.send('client', Buffer.from(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${serverPort}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`)))
  packets.push(...conv.send('server', Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)))
  for (const m of messages) packets.push(...conv.send(m.from, wsFrame(Buffer.from(m.text, 'utf8'), 1, m.from === 'client')))
  packets.push(...conv.close())
  return packets
}
