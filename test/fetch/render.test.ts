import { Chalk } from 'chalk'
import { describe, expect, it } from 'vitest'
import { getPayloadCodec } from '../../src/lib/payload/index.js'
import { compactJson, prettyJson } from '../../src/lib/render/json-text.js'
import { renderPayload } from '../../src/lib/render/payload-output.js'
import { FrameTracer, redactHeader } from '../../src/lib/render/trace.js'

const plain = new Chalk({ level: 0 })
const colour = new Chalk({ level: 1 })

describe('JSON re-layout', () => {
  const text = '{ "a" : [1, 2.50, {"b": 12345678901234567890}], "s": "x \\" y ,:{", "e": {}, "l": [ ] , "t": true }'
  it('compact and pretty keep every token as written', () => {
    expect(compactJson(text)).toBe('{"a":[1,2.50,{"b":12345678901234567890}],"s":"x \\" y ,:{","e":{},"l":[],"t":true}')
    const pretty = prettyJson(text, plain)
    expect(pretty).toBe('{\n  "a": [\n    1,\n    2.50,\n    {\n      "b": 12345678901234567890\n    }\n  ],\n  "s": "x \\" y ,:{",\n  "e": {},\n  "l": [],\n  "t": true\n}')
    expect(JSON.parse(pretty)).toEqual(JSON.parse(text))
  })

  it('colours only with a colour level', () => {
    expect(prettyJson('{"k":1}', colour)).toContain('\u001b[')
    expect(prettyJson('{"k":1}', plain)).not.toContain('\u001b[')
  })
})

describe('payload output', () => {
  const json = getPayloadCodec('json')
  const ctx = { action: 'a', role: 'response' as const, status: 200 }
  it('pipe: compact line; terminal: pretty; empty: nothing; undecodable: the bytes and a warning', () => {
    expect(renderPayload(json, Buffer.from('{ "a": 1 }'), ctx, { tty: false, chalk: plain })).toEqual({ data: '{"a":1}\n' })
    expect(renderPayload(json, Buffer.from('{ "a": 1 }'), ctx, { tty: true, chalk: plain })).toEqual({ data: '{\n  "a": 1\n}\n' })
    expect(renderPayload(json, Buffer.alloc(0), ctx, { tty: false, chalk: plain })).toEqual({ data: '' })
    const bad = renderPayload(json, Buffer.from('not json'), ctx, { tty: false, chalk: plain })
    expect(bad.data).toEqual(Buffer.from('not json'))
    expect(bad.warning).toBeDefined()
  })

  it('raw bytes go to a pipe unchanged and to a terminal as hex', () => {
    const raw = getPayloadCodec('raw')
    const bytes = Buffer.from([0, 1, 0xff])
    expect(renderPayload(raw, bytes, ctx, { tty: false, chalk: plain }).data).toEqual(bytes)
    expect(renderPayload(raw, bytes, ctx, { tty: true, chalk: plain }).data).toBe('00 01 ff\n')
  })
})

describe('frame trace', () => {
  it('marks direction, redacts credentials and names a response by its request action', () => {
    const tracer = new FrameTracer({ chalk: plain, codec: getPayloadCodec('json'), write: () => undefined })
    expect(tracer.lines('out', { kind: 'handshake-request', url: '/?stmp_version=3', headers: { Authorization: 'Bearer abc' } }))
      .toEqual(['> handshake /?stmp_version=3', '> Authorization: Bearer <redacted>'])
    expect(tracer.lines('out', { kind: 'request', id: 3, action: 'x.y', payload: Buffer.from('{ "a": 1 }'), follow: false, fin: false }))
      .toEqual(['> request id=3 x.y (10 bytes)', '>   {"a":1}'])
    expect(tracer.lines('in', { kind: 'response', id: 3, status: 404, latency: 2, payload: Buffer.from('no handler'), follow: false, fin: false }))
      .toEqual(['< response id=3 404 Not Found latency=2ms (10 bytes)', '<   no handler'])
    expect(redactHeader('cookie', 'a=b')).toBe('<redacted>')
    expect(redactHeader('x-a', 'Bearer b')).toBe('Bearer b')
  })
})
