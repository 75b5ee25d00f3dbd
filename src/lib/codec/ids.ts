import { WireError } from '../errors.js'

/**
 * The next free session id for a message from the peer, after `last`, wrapping in 1..0xffff and
 * skipping ids still waiting for their answer. TOO_MANY_REQUESTS (close 1008) when every one is
 * taken. Shared by the dialects that map wire ids (callback codes, ack numbers) to session ids.
 */
export function nextIncomingId(waiting: { size: number; has(id: number): boolean }, last: number, what: string): number {
  const space = 0xffff
  if (waiting.size >= space) throw new WireError('TOO_MANY_REQUESTS', `more than ${space} ${what} from the peer waiting for their answer`, 0, { closeCode: 1008 })
  let n = last
  do n = (n % space) + 1
  while (waiting.has(n))
  return n
}
