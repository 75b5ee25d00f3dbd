'use strict'

/**
 * artillery-engine-stmp: an Artillery engine (Artillery 2.0.x) for STMP and every wire dialect
 * stmpcat speaks. Artillery require()s `artillery-engine-<name>` for `engines: { <name>: ... }`
 * (int-core lib/runner.js loadEngines), constructs it with (script, ee, engineUtil) and calls
 * createScenario(spec, ee) once per scenario; the function that returns runs one virtual user.
 *
 * Every VU is one client Session of stmpcat's own engine (stmp-cli's connect(): the same
 * dialect registry, address syntax, negotiation, correlation and timeouts as `stmpcat fetch`
 * and `stmpcat bench`). This file holds only the scenario language and the metrics.
 */

const { readFileSync } = require('node:fs')
const path = require('node:path')
const { pathToFileURL } = require('node:url')
const { isDeepStrictEqual } = require('node:util')

/** Client setups kept per engine (one per distinct templated engines.stmp; per-VU tokens make many). */
const MAX_SETUPS = 64
/** Pushes a VU keeps for waitForPush before the oldest is dropped. */
const MAX_QUEUED_PUSHES = 1000
/** Steps this engine knows (a step is an object with exactly one of these keys, plus options). */
const STEP_KEYS = ['request', 'push', 'ping', 'think', 'waitForPush', 'join', 'leave', 'broadcast', 'loop', 'parallel', 'function', 'log', 'connect']

let library

/**
 * stmp-cli's library (ESM, so import() from this CommonJS module): the installed package, or,
 * inside the stmpcat repository (an npm workspace of it), the root package's dist/.
 */
function loadStmp() {
  library ??= (async () => {
    try {
      return await import('stmp-cli')
    } catch (err) {
      if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes("'stmp-cli'")) throw err
    }
    const root = path.join(__dirname, '..', '..')
    let name
    try {
      name = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).name
    } catch {
      name = undefined
    }
    if (name !== 'stmp-cli') throw new Error('artillery-engine-stmp needs stmp-cli: npm install stmp-cli')
    return import(pathToFileURL(path.join(root, 'dist', 'lib', 'index.js')).href)
  })()
  return library
}

/** An error that ends a VU, counted by Artillery as errors.<code>. */
function coded(code, message) {
  const err = new Error(message)
  err.code = code
  return err
}

function errorCode(err) {
  if (err && typeof err.code === 'string' && err.code !== '') return err.code
  return (err && err.message) || String(err)
}

/** ms with µs precision (stmp.response_time, stmp.connect_time). */
function ms3(value) {
  return Math.round(value * 1000) / 1000
}

function list(value) {
  if (value === undefined || value === null) return undefined
  return Array.isArray(value) ? value.map(String) : [String(value)]
}

/** A duration: a number is seconds (Artillery's convention); a string is stmpcat's (500ms, 10s). */
function duration(value) {
  if (value === undefined || value === null) return undefined
  return typeof value === 'number' ? `${value * 1000}ms` : String(value)
}

/**
 * engines.stmp as the values of stmpcat's client flags (cli/client-flags.ts): the same names,
 * camelCase or as the flag is spelt. clientSetup() then checks them exactly as the CLI does.
 */
function flagValues(cfg) {
  const pick = (...names) => names.map((n) => cfg[n]).find((v) => v !== undefined)
  const headers = pick('headers', 'header')
  const options = pick('options', 'option')
  return {
    dialect: pick('dialect'),
    option: options === undefined ? undefined
      : Array.isArray(options) ? options.map(String) : Object.entries(options).map(([k, v]) => `${k}=${v}`),
    header: headers === undefined ? undefined
      : Array.isArray(headers) ? headers.map(String) : Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    token: pick('token') === undefined ? undefined : String(pick('token')),
    'content-type': String(pick('contentType', 'content-type') ?? 'json'),
    proto: list(pick('proto')),
    'import-path': list(pick('importPath', 'import-path')),
    timeout: duration(pick('timeout')) ?? '10s',
    format: pick('format'),
    'server-latency': pick('serverLatency', 'server-latency') === true,
    ca: list(pick('ca')),
    insecure: pick('insecure') === true,
  }
}

class StmpEngine {
  constructor(script, ee, helpers) {
    this.script = script
    this.config = script.config
    this.engineConfig = (script.config.engines && script.config.engines.stmp) || {}
    this.helpers = helpers
    this.setups = new Map()
  }

  createScenario(spec, ee) {
    const flow = Array.isArray(spec.flow) ? spec.flow : []
    const first = flow[0] && flow[0].connect !== undefined ? flow[0].connect : undefined
    const steps = (first === undefined ? flow : flow.slice(1)).map((step) => this.step(step, ee))
    return (context, callback) => this.runVu(spec, first, steps, context, ee, callback)
  }

  /**
   * One VU: beforeScenario hooks, connect, the steps in order, close, afterScenario hooks (as the
   * HTTP engine has them: `(context, ee, next)`); every failure counted by its code.
   */
  runVu(spec, connectSpec, steps, context, ee, callback) {
    ee.emit('started')
    const finish = (err) => {
      if (err) ee.emit('error', errorCode(err))
      callback(err || null, context)
    }
    const after = (err) => {
      if (err || spec.afterScenario === undefined) return finish(err)
      this.hook(spec.afterScenario, [context, ee], context).then(() => finish(null), finish)
    }
    this.hook(spec.beforeScenario, [context, ee], context).then(() => this.open(connectSpec, context, ee)).then(() => {
      series(steps, context, (err) => {
        const st = context.stmp
        if (!st) return after(err)
        st.session.close(1000, '').then((info) => {
          // Frames queued that never reached the kernel were lost: the server cannot count them.
          if (!err && info.unsent > 0) err = coded('CONNECTION_CLOSED', `${info.unsent} bytes of frames were not sent before the close`)
          after(err)
        }, (closeErr) => after(err || closeErr))
      })
    }, finish)
  }

  async open(connectSpec, context, ee) {
    const lib = await loadStmp()
    const { template } = this.helpers
    const overrides = connectSpec !== null && typeof connectSpec === 'object' ? connectSpec : {}
    const cfg = template({ ...this.engineConfig, ...overrides }, context)
    const target = typeof connectSpec === 'string' ? template(connectSpec, context) : cfg.target ?? template(this.config.target, context)
    if (typeof target !== 'string' || target === '') throw coded('BAD_URL', 'no target: set config.target (stmpcat address syntax: tcp://host:port, ws://host:port/path, :port)')
    const key = JSON.stringify(cfg)
    let setup = this.setups.get(key)
    if (!setup) {
      setup = lib.clientSetup(flagValues(cfg))
      if (this.setups.size >= MAX_SETUPS) this.setups.clear()
      this.setups.set(key, setup)
    }
    const pushes = []
    const waiters = []
    const started = performance.now()
    const session = await lib.connect(target, {
      ...setup.options,
      prepare: (s) => {
        s.onPush = (push) => {
          ee.emit('counter', 'stmp.pushes_received', 1)
          const waiter = waiters.findIndex((w) => w.action === undefined || w.action === push.action)
          if (waiter >= 0) return waiters.splice(waiter, 1)[0].resolve(push)
          if (pushes.length >= MAX_QUEUED_PUSHES) {
            pushes.shift()
            ee.emit('counter', 'stmp.pushes_dropped', 1)
          }
          pushes.push(push)
        }
      },
    })
    ee.emit('histogram', 'stmp.connect_time', ms3(performance.now() - started))
    ee.emit('counter', 'stmp.connections', 1)
    session.closed.then(() => {
      for (const w of waiters.splice(0)) w.reject(session.closedError())
    })
    context.stmp = { lib, session, setup, codec: setup.codec, pushes, waiters }
  }

  step(spec, ee) {
    if (spec === null || typeof spec !== 'object') throw new Error(`artillery-engine-stmp: a flow step must be an object, not ${JSON.stringify(spec)}`)
    const kind = STEP_KEYS.find((k) => spec[k] !== undefined)
    if (kind === undefined) throw new Error(`artillery-engine-stmp: unknown step ${JSON.stringify(spec)} (steps: ${STEP_KEYS.join(', ')})`)
    const { helpers } = this
    switch (kind) {
      case 'think':
        return helpers.createThink(spec, (this.config.defaults && this.config.defaults.think) || {})
      case 'loop': {
        const steps = spec.loop.map((s) => this.step(s, ee))
        if (spec.duration !== undefined) return timedLoop(steps, spec, helpers)
        return helpers.createLoopWithCount(spec.count || -1, steps, {
          loopValue: spec.loopValue || '$loopCount',
          loopElement: spec.loopElement || '$loopElement',
          overValues: spec.over,
          whileTrue: this.config.processor ? this.config.processor[spec.whileTrue] : undefined,
        })
      }
      case 'parallel':
        // Steps at once on the VU's one connection (requests in flight together, as bench -p).
        return helpers.createParallel(spec.parallel.map((s) => this.step(s, ee)), { limitValue: spec.limit })
      case 'function':
        return (context, callback) => this.callFunction(spec.function, [context, ee], context, callback)
      case 'log':
        return (context, callback) => {
          console.log(helpers.template(spec.log, context))
          process.nextTick(callback, null, context)
        }
      case 'connect':
        throw new Error('artillery-engine-stmp: connect is implicit; an explicit connect step may only be the first step')
      default:
        return cbify((context) => this[kind](spec[kind], context, ee))
    }
  }

  /** A processor function, (…args, next) or returning a Promise, as Artillery's engines call them. */
  callFunction(name, args, context, callback) {
    const fn = this.config.processor && this.config.processor[name]
    if (typeof fn !== 'function') return process.nextTick(callback, coded('BAD_FUNCTION', `no function ${name} in config.processor`), context)
    let done = false
    const next = (err) => {
      if (done) return
      done = true
      callback(err || null, context)
    }
    try {
      const out = fn(...args, next)
      if (out && typeof out.then === 'function') out.then(() => next(), next)
    } catch (err) {
      next(err)
    }
  }

  hook(names, args, context) {
    const all = names === undefined ? [] : Array.isArray(names) ? names : [names]
    return all.reduce((p, name) => p.then(() => new Promise((resolve, reject) => {
      this.callFunction(name, args, context, (err) => (err ? reject(err) : resolve()))
    })), Promise.resolve())
  }

  /** A step's payload to wire bytes: a string is its text (as `-d` takes it), any other value is encoded. */
  encode(st, action, value, role) {
    if (value === undefined || value === null) return Buffer.alloc(0)
    if (typeof value === 'string') return st.codec.fromText(value, { action, role })
    return st.codec.encode(value, { action, role })
  }

  async request(spec, context, ee) {
    const st = context.stmp
    const { template } = this.helpers
    const params = { ...spec, action: template(spec.action, context), payload: spec.payload === undefined ? undefined : template(spec.payload, context) }
    if (typeof params.action !== 'string' || params.action === '') throw coded('BAD_INPUT', 'request needs an action')
    await this.hook(spec.beforeRequest, [params, context, ee], context)
    const bytes = this.encode(st, params.action, params.payload, 'request')
    const timeout = spec.timeout === undefined ? st.setup.timeout : st.lib.parseTimeout(duration(spec.timeout), 'timeout')
    ee.emit('counter', 'stmp.requests', 1)
    ee.emit('rate', 'stmp.request_rate')
    const res = await st.session.request(params.action, bytes, { timeout })
    ee.emit('counter', 'stmp.responses', 1)
    ee.emit('histogram', 'stmp.response_time', ms3(res.elapsed))
    ee.emit('counter', `stmp.codes.${res.status}`, 1)
    const payload = st.lib.decodePayload(st.codec, res.payload, { action: params.action, role: 'response', status: res.status })
    const response = { status: res.status, payload, elapsed: res.elapsed, latency: res.latency, headers: (res.meta && res.meta.headers) || {} }
    await this.hook(spec.afterResponse, [params, response, context, ee], context)
    await this.captureOrMatch(params, response, context, ee)
    this.expect(params.expect, response, context, ee)
  }

  async push(spec, context, ee) {
    const st = context.stmp
    const { template } = this.helpers
    const action = template(spec.action, context)
    if (typeof action !== 'string' || action === '') throw coded('BAD_INPUT', 'push needs an action')
    st.session.push(action, this.encode(st, action, spec.payload === undefined ? undefined : template(spec.payload, context), 'push'))
    ee.emit('counter', 'stmp.pushes_sent', 1)
  }

  async ping(_spec, context, ee) {
    const rtt = await context.stmp.session.ping()
    ee.emit('counter', 'stmp.pings', 1)
    ee.emit('histogram', 'stmp.ping_rtt', ms3(rtt))
  }

  async waitForPush(spec, context, ee) {
    const st = context.stmp
    const { template } = this.helpers
    const opts = typeof spec === 'string' ? { action: spec } : spec
    const action = opts.action === undefined ? undefined : template(opts.action, context)
    const timeout = opts.timeout === undefined ? st.setup.timeout : st.lib.parseTimeout(duration(opts.timeout), 'timeout')
    const started = performance.now()
    const queued = st.pushes.findIndex((p) => action === undefined || p.action === action)
    const push = queued >= 0 ? st.pushes.splice(queued, 1)[0] : await new Promise((resolve, reject) => {
      const waiter = { action, resolve: (p) => { clearTimeout(timer); resolve(p) }, reject: (e) => { clearTimeout(timer); reject(e) } }
      const timer = setTimeout(() => {
        st.waiters.splice(st.waiters.indexOf(waiter), 1)
        reject(coded('PUSH_TIMEOUT', `no push${action === undefined ? '' : ` ${action}`} within ${timeout} ms`))
      }, timeout)
      st.waiters.push(waiter)
    })
    ee.emit('histogram', 'stmp.push_wait_time', ms3(performance.now() - started))
    const payload = st.codec.decode(push.payload, { action: push.action, role: 'push' })
    const response = { action: push.action, payload, headers: (push.meta && push.meta.headers) || {} }
    const params = { ...opts, action }
    await this.captureOrMatch(params, response, context, ee)
    this.expect(opts.expect, response, context, ee)
  }

  rooms(name, spec, context, ee, payload) {
    const st = context.stmp
    const { template } = this.helpers
    const room = template(typeof spec === 'string' ? spec : spec.room, context)
    if (!st.session.dialect.features.rooms) {
      throw coded('BAD_INPUT', `${st.session.dialect.title} has no rooms (${name}); with stmpcat serve --routes a request to an action that joins does it in any dialect`)
    }
    const args = { room }
    if (name === 'broadcast') args.payload = this.encode(st, room, payload === undefined ? undefined : template(payload, context), 'push')
    st.session.command(name, args)
    ee.emit('counter', `stmp.${name}`, 1)
  }

  async join(spec, context, ee) {
    this.rooms('join', spec, context, ee)
  }

  async leave(spec, context, ee) {
    this.rooms('leave', spec, context, ee)
  }

  async broadcast(spec, context, ee) {
    this.rooms('broadcast', spec, context, ee, spec.payload)
  }

  /** capture / match (Artillery's own: json, regexp, header) on the decoded payload. */
  captureOrMatch(params, response, context, ee) {
    if (params.capture === undefined && params.match === undefined) return Promise.resolve()
    return new Promise((resolve, reject) => {
      this.helpers.captureOrMatch(params, { body: response.payload, headers: response.headers }, context, (err, result) => {
        if (err) return reject(err)
        if (!result) return resolve()
        const failedMatch = Object.values(result.matches).some((m) => m.success === false && m.strict !== false)
        const failedCapture = Object.entries(result.captures).find(([, c]) => c.failed)
        for (const m of Object.values(result.matches)) ee.emit('match', m.success, { expected: m.expected, got: m.got, expression: m.expression, strict: m.strict })
        if (failedCapture) return reject(coded('CAPTURE_FAILED', `capture ${failedCapture[0]} found nothing`))
        if (failedMatch) return reject(coded('MATCH_FAILED', 'a match failed'))
        for (const [name, c] of Object.entries(result.captures)) context.vars[name] = c.value
        resolve()
      })
    })
  }

  /**
   * expect: { status: 200 | [200, 201], payload: VALUE (deep-equal), hasProperty: "a.b" }, or a
   * list of such objects. A failure ends the VU with errors.EXPECT_<what>; stmp.expect.ok/failed count.
   */
  expect(spec, response, context, ee) {
    if (spec === undefined) return
    for (const one of Array.isArray(spec) ? spec : [spec]) {
      const want = this.helpers.template(one, context)
      const status = want.status ?? want.statusCode
      if (status !== undefined) {
        const allowed = (Array.isArray(status) ? status : [status]).map(Number)
        this.check(ee, allowed.includes(response.status), 'EXPECT_STATUS', `status ${response.status}, expected ${allowed.join(' or ')}`)
      }
      if (want.payload !== undefined) {
        this.check(ee, isDeepStrictEqual(response.payload, want.payload), 'EXPECT_PAYLOAD', `payload ${JSON.stringify(response.payload)}, expected ${JSON.stringify(want.payload)}`)
      }
      if (want.hasProperty !== undefined) {
        let v = response.payload
        for (const part of String(want.hasProperty).split('.')) v = v !== null && typeof v === 'object' ? v[part] : undefined
        this.check(ee, v !== undefined, 'EXPECT_PROPERTY', `payload has no ${want.hasProperty}`)
      }
    }
  }

  check(ee, ok, code, message) {
    ee.emit('counter', ok ? 'stmp.expect.ok' : 'stmp.expect.failed', 1)
    if (!ok) throw coded(code, message)
  }
}

/** An async step as Artillery's (context, callback) step. */
function cbify(fn) {
  return (context, callback) => {
    let p
    try {
      p = fn(context)
    } catch (err) {
      return process.nextTick(callback, err, context)
    }
    p.then(() => callback(null, context), (err) => callback(err, context))
  }
}

/**
 * `loop` with `duration` (seconds, or a duration string such as 10s): repeats the steps until that
 * much time has passed since the loop started (Artillery's own loop counts only). `$loopCount`
 * (or `loopValue`) counts the rounds; `count` still caps them.
 */
function timedLoop(steps, spec, helpers) {
  return (context, callback) => {
    const text = String(helpers.template(spec.duration, context)).trim()
    const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text)
    if (!m) return process.nextTick(callback, coded('BAD_INPUT', `loop duration ${JSON.stringify(text)}: a number of seconds or e.g. 500ms, 10s, 2m`), context)
    const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000)
    const max = spec.count === undefined ? Infinity : Number(helpers.template(spec.count, context))
    const name = spec.loopValue || '$loopCount'
    const until = performance.now() + ms
    let round = 0
    const again = (err) => {
      if (err) return callback(err, context)
      if (performance.now() >= until || round >= max) return callback(null, context)
      context.vars[name] = round++
      // A new macrotask per round: a flow that never waits cannot starve timers and sockets.
      setImmediate(() => series(steps, context, again))
    }
    again(null)
  }
}

/** Runs (context, callback) steps one after another; the first error stops the flow. */
function series(steps, context, done) {
  let i = 0
  const next = (err, ctx) => {
    if (ctx) context = ctx
    if (err) return done(err, context)
    if (i >= steps.length) return done(null, context)
    const step = steps[i++]
    step(context, next)
  }
  next(null, context)
}

module.exports = StmpEngine
module.exports.flagValues = flagValues
