import { Args, Flags } from '@oclif/core'
import { StmpCommand } from '../lib/cli/base-command.js'
import { clientFlags } from '../lib/cli/client-flags.js'
import { writeFile } from 'node:fs/promises'
import { BENCH_DEFAULTS, bench, renderReport, stderrChalk, withSigint, type BenchResult } from '../lib/bench/index.js'
import { artilleryScenario } from '../lib/bench/artillery.js'
import { StmpError } from '../lib/errors.js'

export default class Bench extends StmpCommand {
  static override summary = 'Load-test an STMP server (or the embedded echo server) and report latency percentiles, rates and errors'
  static override description = `With no URL, an embedded echo server (StmpServer in a worker thread) is started and benchmarked.
Latency is recorded in microseconds (HdrHistogram, 1 us to 60 s); with --rate it is measured from each request's intended send time.
-d is --duration; the payload is --data (text, @file or @- for stdin) or --payload-size. Report on stderr; --json prints one object on stdout (docs/bench.md).
Exit 8 when an SLO gate fails or no request succeeded; exit 3 when the target cannot be reached or the connections are lost during the run;
exit 130 after Ctrl-C (SIGINT), which stops the load and still prints the report; exit 2 for a bad flag value (BAD_FLAG) or an --out path that cannot be written.`

  static override examples = [
    '<%= config.bin %> bench -d 2',
    '<%= config.bin %> bench tcp://127.0.0.1:5000 -c 50 -p 4 -d 30s --warmup 5s',
    '<%= config.bin %> bench ws://localhost:8080/stmp -R 2000 -d 10s --max-p99 20 --json > run.json',
    '<%= config.bin %> bench :5000 --data @examples/body.json --compare run.json --histogram',
    { description: 'The same load as an Artillery scenario (engine stmp), written instead of run', command: '<%= config.bin %> bench tcp://127.0.0.1:5000 -c 20 -p 2 -d 30s --max-p99 50 --artillery scenario.yml' },
  ]

  static override args = {
    url: Args.string({ description: 'target (tcp://, tls://, unix:, ws://, wss://, host:port); none = embedded echo server', required: false, ignoreStdin: true }),
  }

  static override flags = {
    ...clientFlags,
    // Numbers are parsed in lib/bench/options.ts, so a bad value is BAD_FLAG like every other bench flag.
    connections: Flags.string({ char: 'c', description: 'connections', default: String(BENCH_DEFAULTS.connections) }),
    pipelining: Flags.string({ char: 'p', description: 'requests in flight per connection', default: String(BENCH_DEFAULTS.pipelining) }),
    duration: Flags.string({ char: 'd', description: 'measured duration (e.g. 10s, 2m) [default: 10s unless --amount]' }),
    amount: Flags.string({ char: 'n', description: 'measured requests to send (stops at whichever of -d/-n comes first)' }),
    rate: Flags.string({ char: 'R', description: 'total requests per second on a fixed schedule (open model)' }),
    warmup: Flags.string({ description: 'load before measuring, not counted (e.g. 2s)' }),
    action: Flags.string({ description: 'ACTION of each request', default: BENCH_DEFAULTS.action }),
    data: Flags.string({ description: 'request payload: text, @file, or @- for stdin' }),
    'payload-size': Flags.string({ description: 'request payload of this many bytes (e.g. 1k), valid in the content type' }),
    push: Flags.boolean({ description: 'send Push frames as fast as the socket takes them (push throughput)', default: false }),
    workers: Flags.string({ char: 'w', description: 'worker threads sharing the connections (histograms merged)', default: String(BENCH_DEFAULTS.workers) }),
    // No oclif `options`: a bad value is BAD_FLAG (lib/bench/options.ts); no default, so a dialect without formats can refuse it.
    format: Flags.string({ summary: 'WebSocket message format: binary or text (stmp-v3; default binary).' }),
    out: Flags.string({ description: 'also write the JSON result to this file' }),
    compare: Flags.string({ description: 'a previous --json/--out result: print each figure beside it with the change' }),
    histogram: Flags.boolean({ description: 'add a bar chart of the latency distribution', default: false }),
    'max-p99': Flags.string({ description: 'SLO gate: fail (exit 8) when p99 latency is above this many ms' }),
    'max-error-rate': Flags.string({ description: 'SLO gate: fail (exit 8) when the error rate is above this fraction (0.01 = 1%)' }),
    'min-rps': Flags.string({ description: 'SLO gate: fail (exit 8) when mean requests/s is below this' }),
    artillery: Flags.string({ description: 'write the equivalent Artillery scenario (engine stmp, docs/artillery.md) to this file (- for stdout) instead of running the load' }),
  }

  async run(): Promise<BenchResult | { artillery: string }> {
    const { args, flags } = await this.parse(Bench)
    if (flags.artillery !== undefined) {
      const text = await artilleryScenario(args.url, flags)
      if (flags.artillery === '-') {
        if (!this.jsonEnabled()) process.stdout.write(text)
      } else {
        await writeFile(flags.artillery, text).catch((err: NodeJS.ErrnoException) => {
          throw new StmpError('BAD_FILE', `--artillery: cannot write ${flags.artillery}: ${err.code ?? err.message}`)
        })
        if (!this.jsonEnabled()) process.stderr.write(`stmpcat: wrote ${flags.artillery}: artillery run ${flags.artillery}\n`)
      }
      return { artillery: text }
    }
    // Ctrl-C stops the load; the partial report is printed below and the exit code is 130.
    const { result, failures, warnings } = await withSigint(
      (signal) => bench(args.url, flags, { version: this.config.version, out: flags.out, compare: flags.compare, signal }),
      () => process.stderr.write('\nstmpcat: interrupted: stopping the load, then printing what was measured\n'),
    )
    if (!this.jsonEnabled()) process.stderr.write(renderReport(result, stderrChalk(), { histogram: flags.histogram }))
    for (const w of warnings) process.stderr.write(`stmpcat: warning: ${w}\n`)
    // The result is still printed (stdout with --json); the first failure sets the exit code.
    for (const f of failures) process.stderr.write(`stmpcat: ${f.code}: ${f.message}\n`)
    if (failures.length > 0) process.exitCode = failures[0].exitCode
    return result
  }
}
