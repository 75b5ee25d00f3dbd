/**
 * What a load runner (the main thread, or one worker thread) is told to do, and what it
 * reports. Plain data only: plans and reports cross `postMessage`.
 */

export interface LoadPlan {
  /** The target address text (parsed again in each thread). */
  address: string
  /** Connections this runner opens. */
  connections: number
  /** Requests in flight per connection (`-p`). */
  pipelining: number
  /** Measured duration in ms; null with `--amount` alone. */
  durationMs: number | null
  /** Measured requests this runner sends; null without `--amount`. */
  amount: number | null
  /** Requests per second this runner sends on a fixed schedule (open model); null: closed model. */
  rate: number | null
  warmupMs: number
  timeoutMs: number
  connectTimeoutMs: number
  action: string
  /** The encoded request PAYLOAD (built once from `--data` / `--payload-size`). */
  payload: Uint8Array
  contentType: string
  /** WebSocket message format; stream transports are binary only (wire notes §1). */
  format: 'binary' | 'text'
  headers: Record<string, string>
  /** Ask for the latency field in responses (`stmp_server_latency=1`, wire notes §5). */
  serverLatency: boolean
  /** `--ca` PEM texts and `-k` for tls:// and wss:// targets. */
  tls: { ca: string[]; insecure: boolean }
  /** Send Push frames as fast as the socket takes them instead of requests. */
  push: boolean
  /** The wire dialect (`--dialect`; an address `NAME+scheme:` wins). */
  dialect: string
  /** `-O KEY=VALUE`: the dialect's own options. */
  dialectOptions: Record<string, string>
  /** Flags given that only some dialects have (refused under one that lacks them). */
  dialectFlags: string[]
  /** `--token`: each dialect sends it its own way (stmp-v3: Authorization: Bearer). */
  token?: string
}

/** Error kinds (requests that got no response, and failed connection attempts). */
export interface ErrorKinds {
  /**
   * No response within `--timeout` (measured from the intended send time with `--rate`),
   * including responses that came after it (`late` in the report counts those).
   */
  timeout: number
  /** Connection attempts that failed (refused, unreachable, handshake refused); not requests. */
  refused: number
  /** Requests in flight when their connection closed. */
  reset: number
  /** Requests in flight when the connection hit a protocol error. */
  protocol: number
  /** Requests in flight when the run was interrupted (SIGINT) and still unanswered after the grace time. */
  cancelled: number
}

/** One second of the measured phase, as one runner saw it. */
export interface TickSample {
  second: number
  responses: number
  bytesIn: number
  bytesOut: number
  errors: number
}

export interface RunnerReport {
  /** The latency histogram, `encodeIntoCompressedBase64`. */
  histogram: string
  sent: number
  responses: number
  /** Responses with a 2xx status. */
  ok: number
  bytesIn: number
  bytesOut: number
  pushesSent: number
  pushesReceived: number
  /** Response count by status (only statuses seen). */
  byStatus: Record<string, number>
  kinds: ErrorKinds
  /** Measured wall time in ms (from the end of warm-up to the last response or timeout). */
  elapsedMs: number
  /** Responses that arrived after `--timeout` (counted in `kinds.timeout`, not in `responses`). */
  late: number
  /** `--rate`: measured requests the schedule made due before sending stopped; null in the closed model. */
  due: number | null
  /** Connections that gave up redialling (the target went away). */
  connectionsLost: number
  /** Sending stopped before `-d` / `-n` was reached because every connection gave up. */
  endedEarly: boolean
  /** The run was interrupted (SIGINT) before it finished. */
  interrupted: boolean
}
