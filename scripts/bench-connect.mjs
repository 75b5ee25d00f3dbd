#!/usr/bin/env node
// Throughput of `stmpcat connect` in pipe mode: N request lines at --concurrency C over TCP
// against `stmpcat serve` (echo), NDJSON parsing and printing included. The rate is measured
// between the first and the last response line on stdout, so process start-up and the
// connection set-up are not counted; the whole-run rate is printed too.
//
//   node scripts/bench-connect.mjs [--requests 200000] [--concurrency 64] [--min 50000]
//
// Exits 1 when the rate is below --min. Run `npm run build` first.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const BIN = join(ROOT, 'bin/run.js')
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '200000' },
    concurrency: { type: 'string', default: '64' },
    min: { type: 'string', default: '50000' },
  },
})
const N = Number(values.requests)
const C = Number(values.concurrency)

if (!existsSync(join(ROOT, 'dist/commands/connect.js'))) {
  console.error('bench-connect: dist/ is missing; run npm run build first')
  process.exit(2)
}

/** `stmpcat serve` when it is built, else the same echo StmpServer in a child process. */
function startServer() {
  const useServe = existsSync(join(ROOT, 'dist/commands/serve.js'))
  const child = useServe
    ? spawn(process.execPath, [BIN, 'serve', 'tcp://127.0.0.1:0'], { stdio: ['pipe', 'ignore', 'pipe'] })
    : spawn(process.execPath, ['--input-type=module', '-e', `
        import { StmpServer } from ${JSON.stringify(join(ROOT, 'dist/lib/session/index.js'))}
        import { parseAddress, formatAddress } from ${JSON.stringify(join(ROOT, 'dist/lib/transport/index.js'))}
        const l = await new StmpServer().listen(parseAddress('tcp://127.0.0.1:0', { listening: true }))
        process.stderr.write('listening on ' + formatAddress(l.address) + '\\n')
        process.stdin.resume()`], { stdio: ['pipe', 'ignore', 'pipe'] })
  return new Promise((resolve, reject) => {
    let err = ''
    child.stderr.setEncoding('utf8').on('data', (d) => {
      err += d
      const m = /listening on (\S+)/.exec(err)
      if (m) resolve({ child, url: m[1], kind: useServe ? 'stmpcat serve' : 'in-process StmpServer (serve not built)' })
    })
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)))
  })
}

const server = await startServer()
const lines = []
for (let i = 0; i < N; i++) lines.push(`{"id":${i},"action":"bench.echo","payload":{"n":${i},"name":"item-${i % 100}","ok":true}}`)
const input = `${lines.join('\n')}\n`

const started = performance.now()
const client = spawn(process.execPath, [BIN, 'connect', server.url, '--concurrency', String(C)], { stdio: ['pipe', 'pipe', 'inherit'] })
// CPU seconds of the connect process (Linux /proc), sampled: the rate per CPU-second does not
// depend on how many other processes share the machine.
const cpuSeconds = () => {
  try {
    const f = readFileSync(`/proc/${client.pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return undefined
  }
}
let cpuFirst
let cpuLast
const sampler = setInterval(() => {
  if (first > 0) cpuLast = cpuSeconds() ?? cpuLast
}, 20)
let first = 0
let last = 0
let count = 0
let firstCount = 0
let tail = ''
let bad = 0
client.stdout.setEncoding('utf8').on('data', (chunk) => {
  const now = performance.now()
  const text = tail + chunk
  const end = text.lastIndexOf('\n')
  tail = text.slice(end + 1)
  let n = 0
  for (let i = text.indexOf('\n'); i !== -1 && i <= end; i = text.indexOf('\n', i + 1)) n++
  if (!text.startsWith('{"id":')) bad++
  if (first === 0) {
    first = now
    firstCount = n
    cpuFirst = cpuSeconds()
  }
  last = now
  count += n
})
client.stdin.end(input)
const code = await new Promise((resolve) => client.on('exit', (c) => resolve(c)))
const total = performance.now() - started
clearInterval(sampler)
server.child.kill('SIGTERM')

const window = (last - first) / 1000
const rate = Math.round((count - firstCount) / window)
const load = loadavg().map((l) => l.toFixed(2)).join(' ')
console.log(`stmpcat connect (pipe, --concurrency ${C}, tcp, ${server.kind}): ${count} responses`)
console.log(`  ${rate.toLocaleString('en-US')} requests/s between the first and last response (${window.toFixed(2)} s)`)
console.log(`  ${Math.round(count / (total / 1000)).toLocaleString('en-US')} requests/s for the whole run, process start included (${(total / 1000).toFixed(2)} s)`)
if (cpuFirst !== undefined && cpuLast !== undefined && cpuLast > cpuFirst) {
  console.log(`  ${Math.round((count - firstCount) / (cpuLast - cpuFirst)).toLocaleString('en-US')} requests per CPU-second of the connect process (${(cpuLast - cpuFirst).toFixed(2)} s of CPU in that window)`)
}
console.log(`  load average: ${load} (${cpus().length} CPUs)`)
if (code !== 0 || count !== N || bad > 0) {
  console.error(`bench-connect: connect exited ${code} with ${count} of ${N} lines`)
  process.exit(1)
}
if (rate < Number(values.min)) {
  console.error(`bench-connect: ${rate} requests/s is below the ${values.min} target`)
  process.exit(1)
}
