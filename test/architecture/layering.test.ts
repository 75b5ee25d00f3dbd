import { cruise } from 'dependency-cruiser'
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../helpers/cli.js'

/**
 * The layering of docs/architecture.md, checked on the real import graph (dependency-cruiser
 * reads every import, static, dynamic and type-only, of src/). A part may import only parts
 * below it; nothing outside a dialect's folder imports from it (the registry, generated from the
 * folders, is the one way in); a dialect imports only the interface and the shared basics.
 */
const LAYERS: Record<string, number> = {
  '': 0, // src/lib/errors.ts, lazy.ts, flag-values.ts
  codec: 1,
  payload: 1,
  dialects: 2,
  transport: 3,
  session: 4,
  capture: 5,
  render: 6,
  bench: 7,
  server: 7,
  connect: 7,
  cli: 8,
  commands: 9,
  hooks: 9,
}
/** What a dialect folder may import besides its own files. */
const DIALECT_MAY_IMPORT = [/^src\/lib\/dialects\/types\.ts$/, /^src\/lib\/errors\.ts$/, /^src\/lib\/lazy\.ts$/, /^src\/lib\/payload\//, /^src\/lib\/codec\//]

interface Edge { from: string; to: string }

/** The part a file belongs to: `dialects/NAME` for a dialect's folder, else its folder under src/lib. */
export function partOf(file: string): { part: string; layer: number } | undefined {
  const m = /^src\/(?:lib\/)?(.*)$/.exec(file)
  if (!m) return undefined
  const rest = m[1]
  if (file === 'src/lib/index.ts') return { part: 'index', layer: 10 }
  if (file.startsWith('src/commands/')) return { part: 'commands', layer: LAYERS.commands }
  if (file.startsWith('src/hooks/')) return { part: 'hooks', layer: LAYERS.hooks }
  const segments = rest.split('/')
  if (segments.length === 1) return { part: '', layer: 0 }
  if (segments[0] === 'dialects' && segments.length > 2) return { part: `dialects/${segments[1]}`, layer: LAYERS.dialects }
  const layer = LAYERS[segments[0]]
  return layer === undefined ? { part: segments[0], layer: -1 } : { part: segments[0], layer }
}

/** Every edge that breaks a rule, as a sentence. */
export function violations(edges: Edge[]): string[] {
  const out: string[] = []
  for (const { from, to } of edges) {
    const a = partOf(from)
    const b = partOf(to)
    if (!a || !b || a.part === b.part) continue
    if (a.layer < 0) { out.push(`${from}: folder ${a.part}/ has no layer (add it to docs/architecture.md and this test)`); continue }
    if (b.part.startsWith('dialects/')) {
      if (from !== 'src/lib/dialects/registry.generated.ts') out.push(`${from} imports ${to}: only the registry reaches into a dialect's folder`)
      continue
    }
    if (a.part.startsWith('dialects/')) {
      if (!DIALECT_MAY_IMPORT.some((r) => r.test(to))) out.push(`${from} imports ${to}: a dialect imports only dialects/types.ts, errors, lazy, payload/ and codec/`)
      continue
    }
    if (b.layer >= a.layer) out.push(`${from} imports ${to}: ${a.part || 'lib'}/ (layer ${a.layer}) may import only layers below it, not ${b.part || 'lib'}/ (layer ${b.layer})`)
  }
  return out
}

/** Import cycles between files (each reported once, by its files). */
export function cycles(edges: Edge[]): string[][] {
  const next = new Map<string, string[]>()
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to])
  const state = new Map<string, 1 | 2>()
  const found: string[][] = []
  const stack: string[] = []
  const visit = (n: string): void => {
    state.set(n, 1)
    stack.push(n)
    for (const m of next.get(n) ?? []) {
      const s = state.get(m)
      if (s === 1) found.push(stack.slice(stack.indexOf(m)))
      else if (s === undefined) visit(m)
    }
    stack.pop()
    state.set(n, 2)
  }
  for (const n of next.keys()) if (!state.has(n)) visit(n)
  return found
}

async function importGraph(): Promise<Edge[]> {
  const tsConfig = extractTSConfig(`${ROOT}/tsconfig.json`)
  const result = await cruise(['src'], {
    baseDir: ROOT,
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
  }, { extensions: ['.ts', '.js'] }, { tsConfig })
  if (typeof result.output === 'string') throw new Error('dependency-cruiser gave text, not modules')
  const edges: Edge[] = []
  for (const m of result.output.modules) {
    for (const d of m.dependencies) {
      if (d.couldNotResolve && d.module.startsWith('.')) throw new Error(`${m.source}: cannot resolve ${d.module}`)
      if (d.resolved.startsWith('src/')) edges.push({ from: m.source, to: d.resolved })
    }
  }
  return edges
}

describe('layering (docs/architecture.md)', () => {
  it('the checker itself catches an upward import, a reach into a dialect, a dialect importing the session, and a cycle', () => {
    expect(violations([{ from: 'src/lib/render/trace.ts', to: 'src/lib/cli/base-command.ts' }])).toHaveLength(1)
    expect(violations([{ from: 'src/lib/capture/x.ts', to: 'src/lib/dialects/stmp-v3/wire.ts' }])).toHaveLength(1)
    expect(violations([{ from: 'src/lib/dialects/ndjson/wire.ts', to: 'src/lib/session/session.ts' }])).toHaveLength(1)
    expect(violations([{ from: 'src/lib/bench/x.ts', to: 'src/lib/server/y.ts' }])).toHaveLength(1)
    expect(violations([{ from: 'src/lib/cli/x.ts', to: 'src/lib/render/y.ts' }, { from: 'src/lib/dialects/registry.generated.ts', to: 'src/lib/dialects/ndjson/index.ts' }])).toEqual([])
    expect(cycles([{ from: 'a', to: 'b' }, { from: 'b', to: 'c' }, { from: 'c', to: 'a' }])).toEqual([['a', 'b', 'c']])
  })

  it('src/ follows it: no import goes up or sideways, none reaches into a dialect, no file cycles', async () => {
    const edges = await importGraph()
    expect(edges.length).toBeGreaterThan(200)
    expect(violations(edges)).toEqual([])
    expect(cycles(edges)).toEqual([])
  }, 60_000)
})
