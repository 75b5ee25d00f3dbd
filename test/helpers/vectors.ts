import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, resolve } from 'node:path'

/** One conformance vector (test/fixtures/conformance/README.md). */
export interface Vector {
  name: string
  transport: 'stream' | 'websocket'
  format: 'binary' | 'text'
  serverLatency: boolean
  inputHex?: string
  inputText?: string
  frames: Record<string, unknown>[]
  error?: { code: string; offset: number }
}

const here = dirname(fileURLToPath(import.meta.url))
/**
 * The project's copy of the conformance vectors (see test/fixtures/conformance/SOURCE.md), so the
 * suites pass on any clone. STMP_VECTORS_FILE points them at another vector file (a newer set).
 */
export const VECTORS_FILE = process.env.STMP_VECTORS_FILE ?? resolve(here, '../fixtures/conformance/stmp-v3-vectors.json')

export function loadVectors(): Vector[] {
  return JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as Vector[]
}

export function vectorBytes(v: Vector): Buffer {
  return v.inputHex !== undefined ? Buffer.from(v.inputHex, 'hex') : Buffer.from(v.inputText ?? '', 'utf8')
}

/** Which side's handshake a stream vector starts with (README: decided by its first frame). */
export function vectorHandshake(v: Vector): 'none' | 'client' | 'server' {
  const first = v.frames[0]?.kind
  if (first === 'handshake-request') return 'client'
  if (first === 'handshake-response') return 'server'
  return 'none'
}

/** Keeps only the fields the vector names, so extra decoder fields (offset, ...) are allowed. */
export function pick(actual: Record<string, unknown>, expected: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(expected)) out[key] = actual[key]
  return out
}
