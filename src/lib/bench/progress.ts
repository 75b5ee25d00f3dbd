import ora, { type Ora } from 'ora'
import type { BenchHooks, BenchSettings } from './run.js'

/**
 * Live progress on stderr, only on a TTY (ora): elapsed time, requests/s of the last full
 * second, errors so far. Off the TTY nothing is written, so logs and pipes stay clean.
 */
export interface Progress {
  hooks: BenchHooks
  stop(): void
}

export function startProgress(settings: BenchSettings, stream: NodeJS.WriteStream = process.stderr): Progress {
  // A TTY with no width (a pty nobody sized) would make ora's line arithmetic run away.
  if (stream.isTTY !== true || !((stream.columns ?? 0) > 0)) return { hooks: {}, stop: () => undefined }
  const spinner: Ora = ora({ stream, text: 'connecting', discardStdin: false })
  spinner.start()
  let startAt = 0
  let rate = 0
  let errors = 0
  const unit = settings.push ? 'pushes/s' : 'req/s'
  const total = settings.durationMs !== null ? ` / ${(settings.durationMs / 1000).toFixed(0)}s` : ''
  const render = () => {
    if (startAt === 0) return
    const now = Date.now() - startAt
    if (now < settings.warmupMs) {
      spinner.text = `warming up ${(now / 1000).toFixed(1)}s / ${(settings.warmupMs / 1000).toFixed(1)}s`
      return
    }
    const elapsed = ((now - settings.warmupMs) / 1000).toFixed(1)
    spinner.text = `${elapsed}s${total}  ${Math.round(rate).toLocaleString('en-US')} ${unit}  errors ${errors.toLocaleString('en-US')}`
  }
  const timer = setInterval(render, 250)
  timer.unref()
  return {
    hooks: {
      onStart: (at) => { startAt = at },
      onSecond: (_second, sample) => {
        rate = sample.responses
        errors += sample.errors
        render()
      },
    },
    stop: () => {
      clearInterval(timer)
      spinner.stop()
    },
  }
}
