import { Args, Flags } from '@oclif/core'
import { StmpCommand } from '../lib/cli/base-command.js'
import { clientFlags } from '../lib/cli/client-flags.js'
import { BENCH_DEFAULTS, bench, renderReport, stderrChalk, type BenchResult } from '../lib/bench/index.js'

export default class Bench extends StmpCommand {
  static override summary = 'Load-test an STMP server (or the embedded echo server) and report latency percentiles, rates and errors'
  static override description = `With no URL, an embedded echo server (StmpServer in a worker thread) is started and benchmarked.
Latency is recorded in microseconds (HdrHistogram, 1 us to 60 s); with --rate it is measured from each request's intended send time.
-d is --duration; the payload is --data (text, @file or @- for stdin) or --payload-size. Report on stderr; --json prints one object on stdout (docs/bench.md).
Exit 8 when an SLO gate fails or no request succeeded; exit 3 when the target cannot be reached.`

  static override examples = [
    '<%= config.bin %> bench -d 2',
    '<%= config.bin %> bench tcp://127.0.0.1:7000 -c 50 -p 4 -d 30s --warmup 5s',
    '<%= config.bin %> bench ws://localhost:8080/stmp -R 2000 -d 10s --max-p99 20 --json > run.json',
    '<%= config.bin %> bench :7000 --data @examples/body.json --compare run.json --histogram',
  ]

  static override args = {
    url: Args.string({ description: 'target (tcp://, tls://, unix:, ws://, wss://, host:port); none = embedded echo server', required: false }),
  }

  static override flags = {
    ...clientFlags,
    connections: Flags.integer({ char: 'c', description: 'connections', default: BENCH_DEFAULTS.connections }),
    pipelining: Flags.integer({ char: 'p', description: 'requests in flight per connection', default: BENCH_DEFAULTS.pipelining }),
    duration: Flags.string({ char: 'd', description: 'measured duration (e.g. 10s, 2m) [default: 10s unless --amount]' }),
    amount: Flags.integer({ char: 'n', description: 'measured requests to send (stops at whichever of -d/-n comes first)' }),
    rate: Flags.integer({ char: 'R', description: 'total requests per second on a fixed schedule (open model)' }),
    warmup: Flags.string({ description: 'load before measuring, not counted (e.g. 2s)' }),
    action: Flags.string({ description: 'ACTION of each request', default: BENCH_DEFAULTS.action }),
    data: Flags.string({ description: 'request payload: text, @file, or @- for stdin' }),
    'payload-size': Flags.string({ description: 'request payload of this many bytes (e.g. 1k), valid in the content type' }),
    push: Flags.boolean({ description: 'send Push frames as fast as the socket takes them (push throughput)', default: false }),
    workers: Flags.integer({ char: 'w', description: 'worker threads sharing the connections (histograms merged)', default: BENCH_DEFAULTS.workers }),
    out: Flags.string({ description: 'also write the JSON result to this file' }),
    compare: Flags.string({ description: 'a previous --json/--out result: print each figure beside it with the change' }),
    histogram: Flags.boolean({ description: 'add a bar chart of the latency distribution', default: false }),
    'max-p99': Flags.string({ description: 'SLO gate: fail (exit 8) when p99 latency is above this many ms' }),
    'max-error-rate': Flags.string({ description: 'SLO gate: fail (exit 8) when the error rate is above this fraction (0.01 = 1%)' }),
    'min-rps': Flags.string({ description: 'SLO gate: fail (exit 8) when mean requests/s is below this' }),
  }

  async run(): Promise<BenchResult> {
    const { args, flags } = await this.parse(Bench)
    const number = (name: string, v: string | undefined) => {
      if (v === undefined) return undefined
      const n = Number(v)
      if (v.trim() === '' || !Number.isFinite(n)) this.error(`--${name}: "${v}" is not a number`)
      return n
    }
    const { result, failure } = await bench(args.url, {
      ...flags,
      'max-p99': number('max-p99', flags['max-p99']),
      'max-error-rate': number('max-error-rate', flags['max-error-rate']),
      'min-rps': number('min-rps', flags['min-rps']),
    }, { version: this.config.version, out: flags.out, compare: flags.compare })
    if (!this.jsonEnabled()) process.stderr.write(renderReport(result, stderrChalk(), { histogram: flags.histogram }))
    if (failure !== null) {
      // The result is still printed (stdout with --json); the failure sets exit code 8.
      process.stderr.write(`stmpcat: ${failure.code}: ${failure.message}\n`)
      process.exitCode = failure.exitCode
    }
    return result
  }
}
