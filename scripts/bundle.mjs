// The last step of `npm run build` (after tsc): bundles what bin/run.js runs into dist/bundle/ with
// esbuild, for start-up speed (docs/startup.md). One entry per command (dist/bundle/commands/*.js,
// which package.json's oclif.commands points at, so oclif.manifest.json names these files) and
// dist/bundle/main/oclif.js for bin/run.js; code shared between them is split into
// dist/bundle/chunks/, so every command and @oclif/core are one module instance each. What a
// command imports with `await import()` stays a chunk of its own, loaded only when needed.
//
// Two rewrites keep the bundle behaving like dist/:
// - @oclif/core's (and semver's) CommonJS files require every module they might use at their
//   top; there each `const x = require("./y")` becomes a proxy that requires ./y on first use,
//   so a fetch runs only the parts of oclif it calls (not help, ux, ejs, the theme reader...).
//   command.js stays eager: it adds a stdout 'error' listener that bin/run.js replaces.
// - `new URL('./worker.js', import.meta.url)` in dist/lib points at the worker file as tsc built
//   it (dist/lib/...), relative to where the code lands in dist/bundle/<dir>/.
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const DIST = join(ROOT, 'dist')
const OUT = join(DIST, 'bundle')

// Required modules that must run at load time, by the requiring file (relative to node_modules).
const EAGER = { '@oclif/core/lib/index.js': ['./command'] }

// `require` for the CommonJS code in an ESM bundle, made on first call (createRequire costs a
// realpath per chunk, and most chunks never require anything at run time).
const REQUIRE_HELPER = `import { createRequire as __stmpcatCreateRequire } from 'node:module'
let __stmpcatRequire
let __stmpcatOclifRequire
function require(id) {
  if (id.startsWith('oclif-dep:')) return (__stmpcatOclifRequire ??= __stmpcatCreateRequire(import.meta.resolve('@oclif/core')))(id.slice(10))
  return (__stmpcatRequire ??= __stmpcatCreateRequire(import.meta.url))(id)
}
require.resolve = (id, options) => (__stmpcatRequire ??= __stmpcatCreateRequire(import.meta.url)).resolve(id, options)`

// The proxy a lazy require becomes. Its target is a bound function, so it can be called,
// constructed and extended like the module it stands for, and has no own `prototype`.
const LAZY_HELPER = `function __stmpcatLazy(load) {
  let mod, loaded = false
  const real = () => loaded ? mod : (loaded = true, mod = load())
  const proxy = new Proxy(function () {}.bind(), {
    get: (_t, k, r) => Reflect.get(real(), k, r === proxy ? real() : r),
    set: (_t, k, v) => Reflect.set(real(), k, v),
    has: (_t, k) => Reflect.has(real(), k),
    deleteProperty: (_t, k) => Reflect.deleteProperty(real(), k),
    defineProperty: (_t, k, d) => Reflect.defineProperty(real(), k, d),
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (t, k) => {
      const d = Reflect.getOwnPropertyDescriptor(real(), k)
      if (d && !d.configurable) Object.defineProperty(t, k, d)
      return d
    },
    apply: (_t, self, args) => Reflect.apply(real(), self, args),
    construct: (_t, args, nt) => Reflect.construct(real(), args, nt === proxy ? real() : nt),
  })
  return proxy
}`

const REQUIRE_LINE = /^((?:const|var|let) [\w$]+ = |exports\.[\w$]+ = )((?:__importStar|__importDefault)\()?require\((["'])([^"']+)\3\)(\))?;\s*$/

// index.js's checkNodeVersion() requires semver, then reads oclif's package.json by a path from
// __dirname, which a bundle does not have: the check is skipped, so semver need not be loaded.
const INNER = { '@oclif/core/lib/index.js': [["const semver = require('semver');", "const semver = __stmpcatLazy(() => require('semver'));"]] }

function lazyRequires(source, file) {
  const eager = EAGER[file] ?? []
  for (const [from, to] of INNER[file] ?? []) {
    if (!source.includes(from)) throw new Error(`bundle: ${file} no longer has ${from}`)
    source = source.replace(from, to)
  }
  return source.split('\n').map((line) => {
    const m = REQUIRE_LINE.exec(line)
    if (!m || eager.includes(m[4]) || Boolean(m[2]) !== Boolean(m[5])) return line
    return `${m[1]}__stmpcatLazy(() => ${m[2] ?? ''}require(${m[3]}${m[4]}${m[3]})${m[5] ?? ''});`
  }).join('\n')
}

const lazyCjs = {
  name: 'lazy-cjs',
  setup(build) {
    build.onLoad({ filter: /node_modules[\\/](@oclif[\\/]core[\\/]lib|semver)[\\/].*\.js$/ }, (args) => {
      const file = relative(join(ROOT, 'node_modules'), args.path).split('\\').join('/')
      return { contents: lazyRequires(readFileSync(args.path, 'utf8'), file), loader: 'js' }
    })
  },
}

const workerUrls = {
  name: 'worker-urls',
  setup(build) {
    build.onLoad({ filter: /[\\/]dist[\\/]lib[\\/].*\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8')
      if (!source.includes('import.meta.url')) return undefined
      // Every output file is two levels below dist/ (dist/bundle/<dir>/name.js).
      const dir = relative(DIST, dirname(args.path)).split('\\').join('/')
      const contents = source.replace(/new URL\((['"])\.\/([^'"]+)\1, import\.meta\.url\)/g, (_m, q, name) => `new URL(${q}../../${dir}/${name}${q}, import.meta.url)`)
      return { contents, loader: 'js' }
    })
  },
}

// @oclif/core's own dependencies are left out of the bundle and required from node_modules, as
// oclif itself would (resolved from @oclif/core's folder), when first used: a fetch uses none of
// them but debug, and parsing ~200 KiB of ejs, minimatch, semver, cli-spinners... at every start
// was the largest single cost left (docs/startup.md).
const OCLIF_BUNDLED = new Set(['debug', 'ms', '@oclif/core/package.json'])
const oclifDeps = {
  name: 'oclif-deps',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.kind !== 'require-call' || !/node_modules[\\/]@oclif[\\/]core[\\/]/.test(args.importer) || args.path.startsWith('node:') || OCLIF_BUNDLED.has(args.path)) return undefined
      return { path: `oclif-dep:${args.path}`, external: true }
    })
  },
}

// oclif's getPlatform() runs `(await import('wsl-utils')).isWsl` on every start, and loading
// wsl-utils loads node:child_process and the PowerShell helpers: about a tenth of bare Node's
// start. For @oclif/core, wsl-utils is a stand-in: isWsl re-exported from is-wsl as wsl-utils
// itself does, and every other export an async function that loads the real module and calls
// it (oclif uses only isWsl and the async powerShellPath, on Windows). If wsl-utils' exports ever
// look otherwise, the real module is bundled as it is.
const WSL_UTILS = await import('wsl-utils')
const IS_WSL = (await import('is-wsl')).default
const wslUtilsFits = WSL_UTILS.isWsl === IS_WSL && Object.entries(WSL_UTILS).every(([name, value]) => name === 'isWsl' || typeof value === 'function')
const wslUtils = {
  name: 'wsl-utils-on-call',
  setup(build) {
    if (!wslUtilsFits) return
    build.onResolve({ filter: /^wsl-utils$/ }, async (args) => {
      if (!/node_modules[\\/]@oclif[\\/]core[\\/]/.test(args.importer)) return undefined
      const real = await build.resolve('wsl-utils', { kind: args.kind, resolveDir: args.resolveDir })
      return { path: real.path, namespace: 'wsl-utils-on-call' }
    })
    build.onLoad({ filter: /.*/, namespace: 'wsl-utils-on-call' }, (args) => {
      const lines = Object.keys(WSL_UTILS).map((name) => name === 'isWsl'
        ? "export { default as isWsl } from 'is-wsl'"
        : `export const ${name} = async (...args) => (await import(${JSON.stringify(args.path)}))[${JSON.stringify(name)}](...args)`)
      return { contents: `${lines.join('\n')}\n`, resolveDir: dirname(args.path), loader: 'js' }
    })
  },
}

// `import process from 'node:process'` (chalk, ora, is-wsl...) makes Node build an ES facade of
// the process object, which reads every enumerable property, process.stdin's getter too: that
// sets up a stdin stream at every start, a tenth of bare Node's. In the bundle the module is the
// global process object itself, which is what it exports.
const globalProcess = {
  name: 'global-process',
  setup(build) {
    build.onResolve({ filter: /^(node:)?process$/ }, () => ({ path: 'process', namespace: 'global-process' }))
    build.onLoad({ filter: /.*/, namespace: 'global-process' }, () => ({ contents: 'module.exports = globalThis.process\n', loader: 'js' }))
  },
}

const main = {
  name: 'main-entry',
  setup(build) {
    build.onResolve({ filter: /^stmpcat:oclif$/ }, () => ({ path: 'oclif', namespace: 'stmpcat' }))
    build.onLoad({ filter: /.*/, namespace: 'stmpcat' }, () => ({ contents: "export { execute } from '@oclif/core'\n", resolveDir: ROOT, loader: 'js' }))
  },
}

rmSync(OUT, { recursive: true, force: true })
const entryPoints = { 'main/oclif': 'stmpcat:oclif' }
for (const file of readdirSync(join(DIST, 'commands'))) {
  if (file.endsWith('.js')) entryPoints[`commands/${file.slice(0, -3)}`] = join(DIST, 'commands', file)
}
const result = await esbuild.build({
  entryPoints,
  outdir: OUT,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  minifyIdentifiers: process.env.STMPCAT_BUNDLE_NAMES !== "1",
  legalComments: 'none',
  // Maps back through tsc's maps to src/*.ts; bin/run.js turns them on with STMPCAT_DEBUG, for
  // the stack it prints. Node reads a .map only when source maps are enabled.
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
  // typescript: only for oclif's .ts development mode; tsx (with esbuild's binary) for --handler
  // .ts files; ws's optional native add-ons.
  external: ['typescript', 'tsx', 'tsx/*', 'bufferutil', 'utf-8-validate'],
  banner: { js: `${REQUIRE_HELPER}\n${LAZY_HELPER}` },
  plugins: [main, globalProcess, wslUtils, oclifDeps, lazyCjs, workerUrls],
})
writeFileSync(join(OUT, 'meta.json'), JSON.stringify(result.metafile))
const outputs = Object.entries(result.metafile.outputs).filter(([name]) => !name.endsWith('.map'))
const total = outputs.reduce((sum, [, o]) => sum + o.bytes, 0)
process.stderr.write(`dist/bundle: ${outputs.length} files, ${(total / 1024).toFixed(0)} KiB\n`)
