import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process'

/**
 * Drives a command through a real pseudo-terminal, for tests of terminal behaviour: tmux when it
 * is installed (a real terminal emulator: capture-pane gives the screen), else util-linux
 * `script` (always present on Linux), whose raw output goes through the small screen model
 * below. Both are real ptys: the command sees isTTY, readline, raw mode.
 */
export interface PtyDriver {
  readonly name: string
  /** The visible screen, one string per row, trailing blanks trimmed. */
  screen(): Promise<string>
  /** Types `text` literally (no Enter). */
  type(text: string): Promise<void>
  /** Presses a key: Enter, Tab, Down, C-d, C-u. */
  key(key: 'Enter' | 'Tab' | 'Down' | 'C-d' | 'C-u'): Promise<void>
  /** Resolves with the exit code once the command ended. */
  exited(): Promise<number>
  stop(): Promise<void>
}

export type DriverName = 'tmux' | 'script'

export function available(name: DriverName): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const COLS = 120
const ROWS = 30
let nextSession = 0

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

export function startPty(name: DriverName, argv: string[], env: Record<string, string>): PtyDriver {
  const envPart = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ')
  const command = `env ${envPart} ${argv.map(shellQuote).join(' ')}`
  return name === 'tmux' ? tmuxDriver(command) : scriptDriver(command)
}

function tmuxDriver(command: string): PtyDriver {
  const socket = `stmpcat-test-${process.pid}-${nextSession++}`
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' })
  // The exit code is printed after the command, and the pane stays for capture-pane.
  tmux('new-session', '-d', '-x', String(COLS), '-y', String(ROWS), '-s', 'main', `${command}; echo "[exit $?]"; sleep 60`)
  return {
    name: 'tmux',
    screen: async () => tmux('capture-pane', '-p', '-t', 'main').split('\n').map((l) => l.trimEnd()).join('\n'),
    type: async (text) => { tmux('send-keys', '-t', 'main', '-l', text) },
    key: async (key) => { tmux('send-keys', '-t', 'main', key) },
    exited: async () => {
      for (let i = 0; i < 200; i++) {
        const m = /\[exit (\d+)\]/.exec(tmux('capture-pane', '-p', '-t', 'main'))
        if (m) return Number(m[1])
        await new Promise((r) => setTimeout(r, 50))
      }
      throw new Error('the command did not exit')
    },
    stop: async () => {
      try {
        tmux('kill-server')
      } catch {
        // Already gone.
      }
    },
  }
}

function scriptDriver(command: string): PtyDriver {
  const child: ChildProcessWithoutNullStreams = spawn('script', ['-qfec', `stty cols ${COLS} rows ${ROWS}; ${command}`, '/dev/null'], { stdio: 'pipe' })
  const screen = new Screen(COLS)
  child.stdout.setEncoding('utf8').on('data', (d: string) => screen.write(d))
  const exit = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)))
  const KEYS = { Enter: '\r', Tab: '\t', Down: '\x1b[B', 'C-d': '\x04', 'C-u': '\x15' }
  return {
    name: 'script',
    screen: async () => screen.text(),
    type: async (text) => { child.stdin.write(text) },
    key: async (key) => { child.stdin.write(KEYS[key]) },
    exited: () => exit,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}

/**
 * Just enough of a VT100 for readline's output: printable text, CR, LF, BS, and the CSI
 * sequences readline uses (cursor to column G, forward C, back D, up A, down B, erase in line K,
 * erase below J); everything else is ignored.
 */
// eslint-disable-next-line no-control-regex -- matching terminal escape sequences is the point
const CSI = /^\x1b\[([?\d;]*)([A-Za-z])/

export class Screen {
  private rows: string[][] = [[]]
  private row = 0
  private col = 0

  constructor(private readonly cols: number) {}

  write(data: string): void {
    for (let i = 0; i < data.length; i++) {
      const c = data[i]
      if (c === '\x1b') {
        const m = CSI.exec(data.slice(i, i + 16))
        if (m) {
          this.csi(m[2], m[1])
          i += m[0].length - 1
        } else if (data[i + 1] !== undefined) i++
        continue
      }
      if (c === '\r') this.col = 0
      else if (c === '\n') this.down(1)
      else if (c === '\b') this.col = Math.max(0, this.col - 1)
      else if (c >= ' ') {
        if (this.col >= this.cols) {
          this.col = 0
          this.down(1)
        }
        const line = this.line()
        while (line.length < this.col) line.push(' ')
        line[this.col++] = c
      }
    }
  }

  text(): string {
    return this.rows.map((r) => r.join('').trimEnd()).join('\n')
  }

  private line(): string[] {
    while (this.rows.length <= this.row) this.rows.push([])
    return this.rows[this.row]
  }

  private down(n: number): void {
    this.row += n
    this.line()
  }

  private csi(op: string, params: string): void {
    const n = Number(params.split(';')[0] || '0')
    switch (op) {
      case 'G': this.col = Math.max(0, (n || 1) - 1); break
      case 'C': this.col += n || 1; break
      case 'D': this.col = Math.max(0, this.col - (n || 1)); break
      case 'A': this.row = Math.max(0, this.row - (n || 1)); break
      case 'B': this.down(n || 1); break
      case 'K': {
        const line = this.line()
        if (n === 0) line.length = Math.min(line.length, this.col)
        else if (n === 1) for (let i = 0; i < this.col && i < line.length; i++) line[i] = ' '
        else line.length = 0
        break
      }
      case 'J':
        if (n === 0) {
          this.line().length = Math.min(this.line().length, this.col)
          this.rows.length = this.row + 1
        }
        break
      default:
        break
    }
  }
}
