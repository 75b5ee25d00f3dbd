import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Config } from '@oclif/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BIN, ROOT, type ServeProcess, startServe } from '../helpers/cli.js'
import { tempDir } from '../helpers/tmp.js'

/**
 * Start-up (docs/startup.md): a command loads only what it needs. The CLI runs with a preload
 * that records every module file loaded; bundle files are mapped back to their sources through
 * dist/bundle/meta.json (esbuild's metafile), so "no protobufjs" holds whichever chunk it is in.
 */
const RECORDER = join(ROOT, 'test/fixtures/startup/record-modules.mjs')
// What a plain JSON fetch over tcp must never load (the list, plus the ws client).
const HEAVY = ['protobufjs', 'msgpackr', 'ws', 'cli-table3', 'ora', '@inquirer/prompts', 'hdr-histogram-js', 'yaml', 'dist/lib/bench/', 'dist/lib/capture/']

interface Meta { outputs: Record<string, { inputs: Record<string, unknown> }> }

let dir: string
let serve: ServeProcess
beforeAll(async () => {
  dir = tempDir('stmpcat-startup-')
  serve = await startServe(['tcp://127.0.0.1:0', 'ws://127.0.0.1:0/stmp'], 2)
}, 60_000)
afterAll(async () => {
  await serve?.stop()
})

let runs = 0
/**
 * Runs the built CLI with the recorder; the sources behind every file it loaded. NODE_ENV as a
 * user has it (unset): vitest sets "test", in which oclif goes looking for TypeScript sources.
 */
function loaded(args: string[], stdin = ''): Promise<{ code: number | null; stdout: string; files: string[]; sources: string[] }> {
  const log = join(dir, `modules-${runs++}.log`)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', RECORDER, BIN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', NODE_ENV: undefined, STMPCAT_MODULES_LOG: log } })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.on('error', reject)
    child.on('close', (code) => {
      try {
        // No bundle (a build without it): every file stands for itself.
        const metaFile = join(ROOT, 'dist/bundle/meta.json')
        const meta = (existsSync(metaFile) ? JSON.parse(readFileSync(metaFile, 'utf8')) : { outputs: {} }) as Meta
        const files = [...new Set(readFileSync(log, 'utf8').trim().split('\n'))].map((url) => relative(ROOT, fileURLToPath(url)).split('\\').join('/'))
        const sources = files.flatMap((file) => (meta.outputs[file] ? Object.keys(meta.outputs[file].inputs) : [file]))
        resolve({ code, stdout, files, sources })
      } catch (err) {
        reject(err)
      }
    })
    child.stdin.end(stdin)
  })
}

const heavyIn = (sources: string[]) => HEAVY.filter((h) => sources.some((s) => s.includes(h.startsWith('dist/') ? h : `node_modules/${h}/`)))

describe('start-up: what a command loads', () => {
  it('a plain JSON fetch over tcp loads none of protobufjs, msgpackr, ws, cli-table3, ora, inquirer, bench or capture, and one command file', async () => {
    const r = await loaded(['fetch', serve.urls[0], 'test.echo', '{"a":1}'])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('{"a":1}\n')
    expect(heavyIn(r.sources)).toEqual([])
    expect(r.files.filter((f) => f.startsWith('dist/bundle/commands/'))).toEqual(['dist/bundle/commands/fetch.js'])
    // The bundle, not the tsc output one file per module: a handful of files.
    expect(r.files.filter((f) => f.startsWith('dist/lib/') || f.startsWith('node_modules/'))).toEqual([])
  })

  it('a fetch over ws loads ws and still none of the payload codecs it does not use', async () => {
    const r = await loaded(['fetch', serve.urls[1], 'test.echo', '[1]'])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('[1]\n')
    expect(heavyIn(r.sources)).toEqual(['ws'])
  })

  it('msgpack is loaded when it is used', async () => {
    const r = await loaded(['fetch', serve.urls[0], 'test.echo', '{"a":1}', '-t', 'msgpack'])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('{"a":1}\n')
    expect(heavyIn(r.sources)).toEqual(['msgpackr'])
  })

  it('--help of a command loads no command file (oclif.manifest.json answers)', async () => {
    const r = await loaded(['decode', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('--max-frame')
    expect(r.files.filter((f) => f.includes('/commands/'))).toEqual([])
  })

  it('--version loads no part of oclif and prints exactly what oclif would (Config#userAgent)', async () => {
    const r = await loaded(['--version'])
    const config = await Config.load(ROOT)
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`${config.userAgent}\n`)
    expect(r.files).toEqual(['bin/run.js'])
  })
})
