import type { AnyFrame } from './types.js'

/**
 * Frames as `decode --json` prints them and as shared/conformance/README.md names the fields:
 * payloads as lower-case hex (`payloadHex`), `action` unless follow, `status` and `latency` on
 * responses unless follow, header keys lower-cased.
 */
export type FrameJson = Record<string, unknown> & { kind: AnyFrame['kind'] }

export function frameToJson(frame: AnyFrame): FrameJson {
  switch (frame.kind) {
    case 'ping':
      return { kind: frame.kind, id: frame.id }
    case 'close':
    case 'handshake-response':
      return { kind: frame.kind, status: frame.status, message: frame.message }
    case 'handshake-request':
      return { kind: frame.kind, url: frame.url, headers: { ...frame.headers } }
    case 'request':
    case 'push': {
      const out: FrameJson = { kind: frame.kind, id: frame.id }
      if (!frame.follow) out.action = frame.action
      out.payloadHex = frame.payload.toString('hex')
      out.follow = frame.follow
      out.fin = frame.fin
      return out
    }
    case 'response': {
      const out: FrameJson = { kind: frame.kind, id: frame.id }
      if (!frame.follow) {
        out.status = frame.status
        out.latency = frame.latency ?? null
      }
      out.payloadHex = frame.payload.toString('hex')
      out.follow = frame.follow
      out.fin = frame.fin
      return out
    }
  }
}

/** The inverse of frameToJson (for tests, `--compare` inputs and scripted frames). */
export function frameFromJson(json: Record<string, unknown>): AnyFrame {
  const payload = () => Buffer.from(String(json.payloadHex ?? ''), 'hex')
  const follow = json.follow === true
  const fin = json.fin === true
  switch (json.kind) {
    case 'ping':
      return { kind: 'ping', id: Number(json.id) }
    case 'close':
      return { kind: 'close', status: Number(json.status), message: String(json.message ?? '') }
    case 'handshake-response':
      return { kind: 'handshake-response', status: Number(json.status), message: String(json.message ?? '') }
    case 'handshake-request':
      return { kind: 'handshake-request', url: String(json.url), headers: { ...(json.headers as Record<string, string>) } }
    case 'request':
    case 'push':
      return { kind: json.kind, id: Number(json.id), action: follow ? undefined : String(json.action), payload: payload(), follow, fin }
    case 'response':
      return {
        kind: 'response',
        id: Number(json.id),
        status: follow ? undefined : Number(json.status),
        latency: follow ? undefined : ((json.latency as number | null | undefined) ?? null),
        payload: payload(),
        follow,
        fin,
      }
    default:
      throw new TypeError(`unknown frame kind ${JSON.stringify(json.kind)}`)
  }
}
