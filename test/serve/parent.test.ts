import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { BIN } from '../helpers/cli.js'
import { until } from './helpers.js'

/** Running (a zombie nobody has reaped yet counts as gone). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/**
 * `npx stmpcat serve &` then `kill $!` (issue 18, point 24): npx is npm exec, which runs
 * `sh -c stmpcat ...`, which runs node, so `$!` is npm's PID and killing it used to leave the
 * node server listening. Here a shell stands in for npm: it starts serve in the background with
 * npm exec's marker in the environment (npm_command=exec), prints serve's PID, and is killed.
 */
async function serveUnderAShell(env: Record<string, string>): Promise<{ serve: number; shell: ReturnType<typeof spawn>; stderr: () => string }> {
  const shell = spawn('sh', ['-c', `"${process.execPath}" "${BIN}" serve tcp://127.0.0.1:0 & echo $!; wait`], {
    env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  shell.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  shell.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  await until(() => /^\d+\n/.test(out) && err.includes('listening on'), 30_000, 'serve to listen')
  return { serve: Number(out.trim()), shell, stderr: () => err }
}

describe('serve under npx: its parent going away stops it', () => {
  it('with npm_command=exec (npx), serve stops when the process that started it is killed', async () => {
    const { serve, shell, stderr } = await serveUnderAShell({ npm_command: 'exec' })
    try {
      expect(alive(serve)).toBe(true)
      shell.kill('SIGKILL')
      await until(() => !alive(serve), 15_000, 'serve to exit after its parent died').catch((e: Error) => {
        throw new Error(`${e.message}; ${readFileSync(`/proc/${serve}/stat`, 'utf8')}; stderr: ${stderr()}`)
      })
      expect(stderr()).toMatch(/parent exited: closing 0 connection\(s\) with 1001/)
    } finally {
      if (alive(serve)) process.kill(serve, 'SIGKILL')
    }
  }, 60_000)

  it('started any other way (the linked binary, nohup), serve outlives its parent as before', async () => {
    const { serve, shell } = await serveUnderAShell({ npm_command: '' })
    try {
      shell.kill('SIGKILL')
      await new Promise((resolve) => shell.once('exit', resolve))
      // Longer than the 500 ms watch interval, several times over.
      await new Promise((resolve) => setTimeout(resolve, 2500))
      expect(alive(serve)).toBe(true)
    } finally {
      if (alive(serve)) process.kill(serve, 'SIGTERM')
    }
  }, 60_000)
})
