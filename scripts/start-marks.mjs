// Where one stmpcat run spends its start-up (docs/startup.md): a preload that prints, on stderr
// at exit, the time since the process started (wall ms) and the process's CPU time so far, at:
// Node ready (this preload runs), each module file loaded (bin/run.js, dist/bundle/...), the first
// byte written to a socket (the handshake), the first write to stdout, and exit.
//
//   node --import ./scripts/start-marks.mjs bin/run.js fetch :5000 test.echo '{"a":1}'
//
// With STMPCAT_MARKS_MODULES=1, module loads are marked too, seen by a loader hook, which runs
// on its own thread in Node 20 and sends the monotonic clock (process.hrtime) back, so both
// threads' marks are on one time line. The hook thread slows loading: compare runs without it.
import net from 'node:net'
import { MessageChannel } from 'node:worker_threads'
import { register } from 'node:module'

const started = process.hrtime.bigint() - BigInt(Math.round(performance.now() * 1e6))
const ms = (t) => Number(t - started) / 1e6
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }
const marks = []
const mark = (name, t = process.hrtime.bigint(), c = cpu()) => marks.push({ name, wall: ms(t), cpu: c })
mark('node ready')

if (process.env.STMPCAT_MARKS_MODULES === '1') markModules()

function markModules() {
  const { port1, port2 } = new MessageChannel()
  port1.on('message', ({ url, t }) => mark(`loaded ${url.replace(/^.*?\/(bin|dist|node_modules)\//, '$1/')}`, BigInt(t), NaN))
  port1.unref()
  const hooks = `data:text/javascript,${encodeURIComponent(`
  let port
  export function initialize(data) { port = data.port }
  export async function load(url, context, next) {
    const r = await next(url, context)
    if (url.startsWith('file:')) port.postMessage({ url, t: String(process.hrtime.bigint()) })
    return r
  }`)}`
  register(hooks, { data: { port: port2 }, transferList: [port2] })
}

const write = net.Socket.prototype.write
let socketSeen = false
let stdoutSeen = false
net.Socket.prototype.write = function (...args) {
  if (this === process.stdout) {
    if (!stdoutSeen) mark('first write to stdout')
    stdoutSeen = true
  } else if (this !== process.stderr && !socketSeen) {
    socketSeen = true
    mark('first byte to a socket')
  }
  return write.apply(this, args)
}

process.on('exit', () => {
  mark('exit')
  marks.sort((a, b) => a.wall - b.wall)
  const lines = marks.map((m) => `${m.wall.toFixed(1).padStart(8)} ms ${Number.isNaN(m.cpu) ? '        ' : `${m.cpu.toFixed(1).padStart(6)} cpu`}  ${m.name}`)
  process.stderr.write(`start-marks (wall since process start, CPU ms of the process):\n${lines.join('\n')}\n`)
})
