import { join } from 'node:path'
import { expect, test } from 'vitest'
import { ROOT, startServe } from '../helpers/cli.js'
import { runArtillery, serveTotals } from './artillery.js'

/** docs/artillery.md's local run, as written (the server on a free port, given with --target). */
test('examples/artillery.yml against serve --routes examples/routes.yaml --token s3cret: ensure holds, every check passes, serve counts every request', async () => {
  const serve = await startServe(['tcp://127.0.0.1:0', '--routes', join(ROOT, 'examples/routes.yaml'), '--token', 's3cret', '--stats', '--json'])
  try {
    const run = await runArtillery(join(ROOT, 'examples/artillery.yml'), serve.urls[0])
    expect(await serve.stop()).toBe(0)
    const c = run.report.counters
    expect(run.code, run.stdout).toBe(0)
    expect(run.stdout).toContain('ok: stmp.response_time.p99 < 200')
    expect(run.stdout).toContain('ok: stmp.responses == stmp.requests')
    const vusers = c['vusers.created']
    expect(vusers).toBe(10)
    expect(c['vusers.failed'] ?? 0).toBe(0)
    // subscribe, 5 x user.get, user.delete.
    expect(c['stmp.requests']).toBe(vusers * 7)
    expect(c['stmp.codes.403']).toBe(vusers)
    expect(c['stmp.pushes_received']).toBe(vusers * 2)
    expect(serveTotals(serve.stdout()).requestsIn).toBe(c['stmp.requests'])
  } finally {
    await serve.stop('SIGKILL')
  }
}, 120_000)
