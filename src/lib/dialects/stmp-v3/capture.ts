import { DEFAULT_LIMITS, StmpProtocolError, StreamDecoder, decodeMessage, looksLikeHandshake, type AnyFrame } from '../../codec/index.js'
import type { CaptureDecoder, CaptureSupport, DecodedFrame, SniffInput } from '../types.js'
import { urlHasStmpQuery, urlServerLatency } from './negotiation.js'

/**
 * STMP v3 in captures. Sniffing: on a stream the client's first frame is its handshake (LENGTH,
 * then a URL starting with `/`: wire notes §8), which is sure; on WebSocket a `stmp_*` parameter
 * in the upgrade URL is sure, and a first message that decodes as a v3 frame is a maybe (v3 is
 * the default dialect, so a maybe wins ties). The decoder is the codec's StreamDecoder (streams)
 * or decodeMessage (one frame per message); `decode` without --dialect uses the fast path in
 * capture/stmp.ts for v3 connections, this one when v3 is one dialect among others (`--port`).
 */
export const capture: CaptureSupport = {
  sniff(first: SniffInput) {
    if (first.framing === 'stream') {
      if (first.client === undefined || first.client.length === 0) return 0
      const verdict = looksLikeHandshake(first.client, DEFAULT_LIMITS.maxFrameSize)
      return verdict === true ? 2 : verdict === undefined ? 1 : 0
    }
    if (first.upgrade && urlHasStmpQuery(first.upgrade.url)) return 2
    const message = first.client ?? first.server
    if (message === undefined) return 1
    return decodes(message, first.upgrade?.url) ? 1 : 0
  },
  decoder(context) {
    const shared = context.shared ?? {}
    const emit = (frame: AnyFrame, offset: number, length: number) => decoder.onFrame?.({ ...(frame as unknown as DecodedFrame), offset, length })
    const fail = (err: unknown, base: number, bytes?: Buffer) => {
      if (!(err instanceof StmpProtocolError)) throw err
      decoder.onError?.({ code: err.code, message: err.message, offset: base + err.offset, bytes })
    }
    if (context.framing === 'websocket') {
      const serverLatency = context.upgrade !== undefined && urlServerLatency(context.upgrade.url)
      const decoder: CaptureDecoder = {
        write(data, offset, text) {
          let frame: AnyFrame
          try {
            frame = decodeMessage(data, { format: text ? 'text' : 'binary', serverLatency }, 0)
          } catch (err) {
            fail(err, offset, data)
            return
          }
          emit(frame, offset, data.length)
        },
        end() {},
      }
      return decoder
    }
    let base = -1
    const stream = new StreamDecoder(
      (frame, offset, length) => {
        // The client's handshake says whether the server's Responses carry latency (both directions).
        if (frame.kind === 'handshake-request') shared.serverLatency = urlServerLatency(frame.url)
        emit(frame, base + offset, length)
      },
      (err) => fail(err, base),
      { handshake: context.direction, continueAfterError: true },
    )
    const decoder: CaptureDecoder = {
      write(data, offset) {
        if (base < 0) base = offset
        if (context.direction === 'server' && shared.serverLatency === true) stream.serverLatency = true
        stream.write(data)
      },
      end(reason) {
        if (reason === 'close') stream.end()
      },
    }
    return decoder
  },
}

function decodes(message: Buffer, url: string | undefined): boolean {
  const serverLatency = url !== undefined && urlServerLatency(url)
  for (const format of ['binary', 'text'] as const) {
    try {
      decodeMessage(message, { format, serverLatency }, 0)
      return true
    } catch {
      // not this format
    }
  }
  return false
}
