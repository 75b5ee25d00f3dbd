import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { unpack } from 'msgpackr'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Format } from '../../src/lib/codec/index.js'
import { runCli } from '../helpers/cli.js'
import { startServer, tempDir, testCertificate } from './helpers.js'

let dir: string
let tls: ReturnType<typeof testCertificate>
beforeAll(() => {
  dir = tempDir()
  tls = testCertificate(dir)
})

describe('fetch over every transport', { timeout: 120_000 }, () => {
  const cases: [string, string, string[], Format][] = [
    ['tcp', 'tcp://127.0.0.1:0', [], 'binary'],
    ['unix', 'unix', [], 'binary'],
    ['ws binary', 'ws://127.0.0.1:0/stmp', [], 'binary'],
    ['ws text', 'ws://127.0.0.1:0/stmp', ['--format', 'text'], 'text'],
  ]
  it.each(cases)('%s: echoes the payload as one compact JSON line', async (_name, listen, extra, format) => {
    const formats: Format[] = []
    const { url } = await startServer(listen === 'unix' ? `unix:${join(tempDir(), 's.sock')}` : listen, {
      handler: (r) => {
        formats.push(r.format)
        return { status: 200, payload: r.payload }
      },
    })
    const run = await runCli(['fetch', url, 'test.echo', '{ "a": [1, 2],\n "big": 12345678901234567890 }', ...extra])
    expect(run.code).toBe(0)
    expect(run.stdout).toBe('{"a":[1,2],"big":12345678901234567890}\n')
    expect(formats).toEqual([format])
  })

  it('wss: with --ca', async () => {
    const { url } = await startServer('wss://127.0.0.1:0/stmp', { tls: { cert: tls.cert, key: tls.key } })
    const run = await runCli(['fetch', url.replace('127.0.0.1', 'localhost'), 'a', '{"x":"y"}', '--ca', tls.certFile])
    expect([run.code, run.stdout]).toEqual([0, '{"x":"y"}\n'])
  })
})

describe('fetch data, headers and output', { timeout: 120_000 }, () => {
  it('-d @file, -d @- and -d TEXT send the same bytes; DATA and -d together is a usage error', async () => {
    const seen: string[] = []
    const { url } = await startServer('tcp://127.0.0.1:0', { handler: (r) => { seen.push(r.payload.toString()); return { status: 200, payload: r.payload } } })
    const file = join(dir, 'data.json')
    writeFileSync(file, '{"from":"file"}')
    expect((await runCli(['fetch', url, 'a', '-d', `@${file}`])).stdout).toBe('{"from":"file"}\n')
    expect((await runCli(['fetch', url, 'a', '-d', '@-'], { stdin: '{"from":"stdin"}' })).stdout).toBe('{"from":"stdin"}\n')
    expect((await runCli(['fetch', url, 'a', '-d', '{"from":"flag"}'])).stdout).toBe('{"from":"flag"}\n')
    expect(seen).toEqual(['{"from":"file"}', '{"from":"stdin"}', '{"from":"flag"}'])
    const both = await runCli(['fetch', url, 'a', '1', '-d', '2', '--json'])
    expect(both.code).toBe(2)
    expect(JSON.parse(both.stdout).error.code).toBe('BAD_FLAG')
  })

  it('-H and --token reach the server in the handshake', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0', {
      token: 's3cret',
      handler: (_r, session) => ({ status: 200, payload: Buffer.from(JSON.stringify(session.headers)) }),
    })
    const run = await runCli(['fetch', url, 'who', '-H', 'X-Trace: abc', '-H', 'X-Other:  two ', '--token', 's3cret'])
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toMatchObject({ 'x-trace': 'abc', 'x-other': 'two', authorization: 'Bearer s3cret' })
  })

  it('-i puts status and server latency on stderr, stdout stays the payload', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0')
    const run = await runCli(['fetch', url, 'a', '{"k":1}', '-i', '--server-latency'])
    expect(run.code).toBe(0)
    expect(run.stdout).toBe('{"k":1}\n')
    expect(run.stderr).toMatch(/^< 200 OK latency=\d+ms elapsed=[\d.]+ms content-type=application\/json$/m)
  })

  it('-v traces the handshake and every frame on stderr; stdout stays the payload', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0')
    const run = await runCli(['fetch', url, 'test.echo', '{"k":2}', '-v', '--token', 'hidden-token', '-H', 'X-A: 1'])
    expect(run.code).toBe(0)
    expect(run.stdout).toBe('{"k":2}\n')
    const lines = run.stderr.split('\n')
    expect(lines).toContain('> handshake /?stmp_version=3')
    expect(lines).toContain('> X-A: 1')
    expect(lines).toContain('< handshake 200 OK')
    expect(lines).toContain('> request id=1 test.echo (7 bytes)')
    expect(lines).toContain('< response id=1 200 OK (7 bytes)')
    expect(lines).toContain('> close 1000')
    expect(lines).toContain('< close 1000')
    expect(run.stderr).not.toContain('hidden-token')
  })

  it('-v over WebSocket shows the upgrade in place of the handshake frames', async () => {
    const { url } = await startServer('ws://127.0.0.1:0/stmp')
    const run = await runCli(['fetch', url, 'x', '1', '-v'])
    expect(run.code).toBe(0)
    expect(run.stdout).toBe('1\n')
    const lines = run.stderr.split('\n')
    expect(lines).toContain('> GET /stmp?stmp_version=3 (WebSocket upgrade)')
    expect(lines).toContain('< 101 Switching Protocols')
    expect(lines).toContain('> request id=1 x (1 bytes)')
    expect(lines).toContain('< close 1000')
  })

  it('--json prints the whole envelope as one line', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0')
    const run = await runCli(['fetch', url, 'test.echo', '{"k":[1]}', '--json', '-H', 'X-A: 1', '--server-latency'])
    expect(run.code).toBe(0)
    expect(run.stdout.split('\n')).toHaveLength(2)
    const envelope = JSON.parse(run.stdout)
    expect(Object.keys(envelope).sort()).toEqual(['action', 'contentType', 'elapsed', 'headers', 'id', 'latency', 'payload', 'status'])
    expect(envelope).toMatchObject({ status: 200, id: 1, action: 'test.echo', contentType: 'application/json', headers: { 'x-a': '1' }, payload: { k: [1] } })
    expect(typeof envelope.latency).toBe('number')
    expect(envelope.elapsed).toBeGreaterThan(0)
  })

  it('text and raw content types print the payload as it is', async () => {
    const { url } = await startServer('tcp://127.0.0.1:0')
    expect((await runCli(['fetch', url, 'a', 'plain words', '-t', 'text'])).stdout).toBe('plain words')
    const bin = join(dir, 'bin.dat')
    writeFileSync(bin, Buffer.from([0, 1, 2, 255]))
    const raw = await runCli(['fetch', url, 'a', '-d', `@${bin}`, '-t', 'raw', '--json'])
    expect(JSON.parse(raw.stdout).payload).toBe(Buffer.from([0, 1, 2, 255]).toString('base64'))
  })
})

describe('fetch with msgpack and protobuf', { timeout: 120_000 }, () => {
  it('-t msgpack: packs the JSON data, prints the decoded response as JSON', async () => {
    const seen: unknown[] = []
    const { url } = await startServer('tcp://127.0.0.1:0', { handler: (r) => { seen.push(unpack(r.payload)); return { status: 200, payload: r.payload } } })
    const run = await runCli(['fetch', url, 'm', '{"a":[1,"two",true],"n":null}', '-t', 'msgpack'])
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({ a: [1, 'two', true], n: null })
    expect(seen).toEqual([{ a: [1, 'two', true], n: null }])
  })

  it('-t protobuf --proto: encodes by the method request type, decodes by its response type', async () => {
    const proto = join(dir, 'echo.proto')
    writeFileSync(proto, `syntax = "proto3";
package t.v1;
message Ask { string name = 1; int64 n = 2; }
message Answer { string name = 1; int64 n = 2; }
service Echo { rpc Say(Ask) returns (Answer); }
`)
    const { url } = await startServer('tcp://127.0.0.1:0')
    const run = await runCli(['fetch', url, 't.v1.Echo/Say', '{"name":"x","n":"9007199254740993"}', '-t', 'protobuf', '--proto', proto])
    expect(run.code).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual({ name: 'x', n: '9007199254740993' })
    const bad = await runCli(['fetch', url, 't.v1.Echo/Say', '{"nope":1}', '-t', 'protobuf', '--proto', proto, '--json'])
    expect(bad.code).toBe(2)
    expect(JSON.parse(bad.stdout).error.code).toBe('BAD_PAYLOAD')
  })
})
