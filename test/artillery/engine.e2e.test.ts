import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { startServe } from '../helpers/cli.js'
import { FIXTURES, runArtillery, serveTotals } from './artillery.js'

/**
 * The real `artillery run` (2.0.21) with engine stmp against `stmpcat serve --stats --json`, in
 * three dialects: what Artillery's JSON report counted must be what the server saw. One run takes
 * about 4 s of Artillery's own start and finish besides the scenario (longer where its one
 * telemetry event cannot be sent), so the runs of this file go concurrently.
 */

const ROUTES = join(FIXTURES, 'routes.yaml')
const RUN_TIMEOUT = 120_000

async function serveAndRun(serveArgs: string[], scenario: string, routes = true) {
  const serve = await startServe([...serveArgs, ...(routes ? ['--routes', ROUTES] : []), '--stats', '--json'])
  try {
    const run = await runArtillery(scenario, serve.urls[0])
    expect(await serve.stop()).toBe(0)
    return { run, seen: serveTotals(serve.stdout()), serveStderr: serve.stderr() }
  } finally {
    await serve.stop('SIGKILL')
  }
}

describe.concurrent('artillery run with engine stmp', () => {
  test('stmp-v3 over tcp: function hooks, capture, expect, pushes awaited, loop; every request reached serve and was answered', async () => {
    const { run, seen } = await serveAndRun(['tcp://127.0.0.1:0'], 'stmp-v3.yml')
    const c = run.report.counters
    expect(run.code, run.stdout).toBe(0)
    const vusers = c['vusers.created']
    expect(vusers).toBe(4)
    expect(c['vusers.completed']).toBe(vusers)
    expect(c['vusers.failed'] ?? 0).toBe(0)
    // Per VU: ticker.subscribe, 5 echoes in the loop, the echo of the hook's variable.
    expect(c['stmp.requests']).toBe(vusers * 7)
    expect(c['stmp.responses']).toBe(c['stmp.requests'])
    expect(c['stmp.codes.200']).toBe(c['stmp.requests'])
    expect(seen.connections).toBe(vusers)
    expect(seen.requestsIn).toBe(c['stmp.requests'])
    expect(seen.responsesOut).toBe(c['stmp.responses'])
    // Two ticks pushed per subscribe, both awaited; one push sent per VU.
    expect(seen.pushesOut).toBe(vusers * 2)
    expect(c['stmp.pushes_received']).toBe(seen.pushesOut)
    expect(c['stmp.pushes_sent']).toBe(vusers)
    expect(seen.pushesIn).toBe(vusers)
    // subscribe's status, 5 x (status + hasProperty set by beforeRequest), the afterResponse variable, the 2nd tick's payload.
    expect(c['stmp.expect.ok']).toBe(vusers * 13)
    expect(c['stmp.pings']).toBe(vusers)
    expect(c['stmp.connections']).toBe(vusers)
    const rt = run.report.summaries['stmp.response_time']
    expect(rt.count).toBe(c['stmp.responses'])
    expect(rt.max).toBeGreaterThan(0)
    expect(run.report.summaries['stmp.connect_time'].count).toBe(vusers)
    expect(run.report.summaries['stmp.push_wait_time'].count).toBe(vusers * 2)
  }, RUN_TIMEOUT)

  test('stocking over ws: the dialect\'s own rooms (join, broadcast, leave), a routed broadcast to the room awaited as a push', async () => {
    const { run, seen } = await serveAndRun(['ws://127.0.0.1:0/ws', '--dialect', 'stocking'], 'stocking.yml')
    const c = run.report.counters
    expect(run.code, run.stdout).toBe(0)
    const vusers = c['vusers.created']
    expect(vusers).toBe(3)
    expect(c['vusers.failed'] ?? 0).toBe(0)
    expect(c['stmp.join']).toBe(vusers)
    expect(c['stmp.broadcast']).toBe(vusers)
    expect(c['stmp.leave']).toBe(vusers)
    // room.ping + 4 echoes per VU.
    expect(c['stmp.requests']).toBe(vusers * 5)
    expect(seen.requestsIn).toBe(c['stmp.requests'])
    expect(seen.responsesOut).toBe(c['stmp.responses'])
    expect(c['stmp.responses']).toBe(c['stmp.requests'])
    // The room.news push reached the VU only because the native join put it in the room.
    expect(c['stmp.pushes_received']).toBe(vusers)
    expect(seen.connections).toBe(vusers)
  }, RUN_TIMEOUT)

  test('ndjson over tcp: counts match serve\'s --stats, and ensure thresholds and conditions on stmp.* metrics that hold exit 0', async () => {
    const { run, seen } = await serveAndRun(['tcp://127.0.0.1:0', '--dialect', 'ndjson'], 'ndjson.yml')
    const c = run.report.counters
    expect(run.code, run.stdout).toBe(0)
    expect(run.stdout).toContain('ok: stmp.response_time.p99 < 5000')
    const vusers = c['vusers.created']
    expect(vusers).toBe(6)
    expect(c['vusers.failed'] ?? 0).toBe(0)
    expect(c['stmp.requests']).toBe(vusers * 10)
    expect(seen.requestsIn).toBe(c['stmp.requests'])
    expect(seen.responsesOut).toBe(c['stmp.responses'])
    expect(seen.pushesIn).toBe(vusers)
    expect(c['stmp.expect.ok']).toBe(vusers * 10)
  }, RUN_TIMEOUT)

  test('a broken ensure threshold fails the run; a failed expect ends the VU as errors.EXPECT_STATUS; statuses are counted as stmp.codes.<status>', async () => {
    const { run, seen } = await serveAndRun(['tcp://127.0.0.1:0', '--dialect', 'ndjson'], 'errors.yml')
    const c = run.report.counters
    expect(run.code).not.toBe(0)
    expect(run.stdout).toContain('fail: stmp.response_time.min < 0')
    const vusers = c['vusers.created']
    expect(vusers).toBe(3)
    expect(c['vusers.failed']).toBe(vusers)
    expect(c['errors.EXPECT_STATUS']).toBe(vusers)
    expect(c['stmp.codes.200']).toBe(vusers)
    expect(c['stmp.codes.404']).toBe(vusers * 2)
    // The request after the failed expect was never sent.
    expect(c['stmp.requests']).toBe(vusers * 3)
    expect(seen.requestsIn).toBe(vusers * 3)
  }, RUN_TIMEOUT)

  test('nothing listening: every VU fails as errors.CONNECT_FAILED (stmpcat\'s code), and without ensure the run exits 0', async () => {
    const run = await runArtillery('refused.yml', 'tcp://127.0.0.1:1')
    const c = run.report.counters
    expect(run.code, run.stdout).toBe(0)
    expect(c['vusers.created']).toBe(2)
    expect(c['errors.CONNECT_FAILED']).toBe(2)
    expect(c['vusers.failed']).toBe(2)
    expect(c['stmp.requests'] ?? 0).toBe(0)
  }, RUN_TIMEOUT)

  test('sockhop over a unix: socket (no Close message in the dialect): requests, a push, a ping, all counted by serve', async () => {
    const sock = join(tmpdir(), `stmpcat-artillery-${process.pid}-${Date.now()}.sock`)
    const { run, seen } = await serveAndRun([`unix:${sock}`, '--dialect', 'sockhop'], 'sockhop.yml', false)
    const c = run.report.counters
    expect(run.code, run.stdout).toBe(0)
    const vusers = c['vusers.created']
    expect(vusers).toBe(3)
    expect(c['vusers.failed'] ?? 0).toBe(0)
    expect(c['stmp.requests']).toBe(vusers * 3)
    expect(seen.requestsIn).toBe(c['stmp.requests'])
    expect(seen.responsesOut).toBe(c['stmp.responses'])
    expect(seen.pushesIn).toBe(vusers)
    expect(c['stmp.expect.ok']).toBe(vusers * 6)
  }, RUN_TIMEOUT)

  test('stmp-v3 over ws with msgpack, a token and a header from engines.stmp; a wrong token fails the VU as errors.HANDSHAKE_REFUSED', async () => {
    const serve = await startServe(['ws://127.0.0.1:0/stmp', '--token', 's3cret', '--stats', '--json'])
    try {
      const [good, bad] = await Promise.all([runArtillery('msgpack-token.yml', serve.urls[0]), runArtillery('bad-token.yml', serve.urls[0])])
      expect(await serve.stop()).toBe(0)
      const seen = serveTotals(serve.stdout())
      const c = good.report.counters
      expect(good.code, good.stdout).toBe(0)
      expect(c['vusers.failed'] ?? 0).toBe(0)
      expect(c['stmp.requests']).toBe(c['vusers.created'] * 2)
      // status and payload of the first request, the captured value in the second.
      expect(c['stmp.expect.ok']).toBe(c['vusers.created'] * 3)
      expect(seen.requestsIn).toBe(c['stmp.requests'])
      // serve's open events show what the handshake carried: msgpack, the header.
      const opens = serve.stdout().split('\n').filter((l) => l.includes('"event":"open"')).map((l) => JSON.parse(l) as { contentType: string; headers: Record<string, string> })
      expect(opens.filter((o) => o.contentType === 'application/msgpack' && o.headers['x-load'] === 'artillery')).toHaveLength(c['vusers.created'])
      expect(bad.report.counters['errors.HANDSHAKE_REFUSED']).toBe(1)
      expect(bad.report.counters['vusers.failed']).toBe(1)
    } finally {
      await serve.stop('SIGKILL')
    }
  }, RUN_TIMEOUT)
})
