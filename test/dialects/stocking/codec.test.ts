import { describe, expect, it } from 'vitest'
import {
  codeOf, decodeRequestBody, decodeResponseBody, joinMessage, requestPayload, splitMessage, statusOf, strictSplit,
} from '../../../src/lib/dialects/stocking/codec.js'
import { loggedMessages } from './transcript.js'

/** The codec on every message the real server and client exchanged (fixtures/stocking.log). */
describe('stocking codec on the real transcript', () => {
  const messages = loggedMessages()

  it('every three-part message splits at its first two commas and joins back to the same bytes', () => {
    const full = messages.filter((m) => splitMessage(m.text).parts === 3)
    expect(full.length).toBeGreaterThan(20)
    for (const m of full) {
      const s = splitMessage(m.text)
      expect(joinMessage(s.type, s.ccode, s.content).toString('utf8')).toBe(m.text)
    }
    expect(splitMessage('5,room,hello, room')).toEqual({ type: '5', ccode: 'room', content: 'hello, room', parts: 3 })
  })

  it('what the real client sent to the real server, read as the server reads it: accepted exactly where the server did not hang up', () => {
    const codes = messages.filter((m) => m.from === 'client').map((m) => {
      try {
        const s = strictSplit(m.text)
        if (s.type === '4') decodeRequestBody(s.content)
        return 'ok'
      } catch (err) {
        return (err as { code: string }).code
      }
    })
    // conn#3 sent `3` and conn#4 `"p":"doge"`: the only two the server dropped (stocking_server.log).
    expect(codes.filter((c) => c !== 'ok')).toEqual(['BAD_MESSAGE', 'NOT_AN_OBJECT'])
  })

  it('every answer of the real server decodes, with its status', () => {
    const answers = messages.filter((m) => m.from === 'server' && m.text.startsWith('4,')).map((m) => {
      const b = decodeResponseBody(splitMessage(m.text).content)
      return [statusOf(b.code), b.text ?? b.payload.toString('utf8')]
    })
    expect(answers).toEqual([[200, '{"x":1}'], [200, 'Hello doge'], [500, 'boom'], [500, 'text router error'], [200, ''], [200, 'oops']])
  })

  it('bad bodies have their own codes; the status mapping goes both ways', () => {
    const code = (f: () => unknown) => { try { f(); return 'ok' } catch (err) { return (err as { code: string }).code } }
    expect(code(() => decodeRequestBody('{"e":"x"}'))).toBe('BAD_BODY')
    expect(code(() => decodeRequestBody('[1]'))).toBe('BAD_BODY')
    expect(code(() => decodeRequestBody('{"e":1,"p":{}}'))).toBe('BAD_BODY')
    expect(code(() => decodeRequestBody('{"e":"x","p":[1]}'))).toBe('NOT_AN_OBJECT')
    expect(code(() => decodeRequestBody('{"e":"x","p":null}'))).toBe('ok')
    expect(code(() => decodeResponseBody('{"p":1}'))).toBe('BAD_BODY')
    expect(code(() => strictSplit('4,1'))).toBe('BAD_MESSAGE')
    expect(code(() => strictSplit(',1,2'))).toBe('BAD_MESSAGE')
    expect(requestPayload(Buffer.alloc(0))).toEqual({ json: 'null' })
    expect(requestPayload(Buffer.from('"doge"'))).toHaveProperty('error')
    for (const s of [200, 404, 500, 503]) expect(statusOf(codeOf(s))).toBe(s)
    expect(statusOf(7)).toBe(500)
    expect(codeOf(500)).toBe(0)
    expect(codeOf(204)).toBe(-1)
  })
})

describe('stocking decoding never throws anything but a coded error', () => {
  it('frameOf (decode) and the server\'s read, on random messages built from Stocking-like parts', async () => {
    const fc = (await import('fast-check')).default
    await import('../../helpers/fast-check-size.js')
    const { frameOf } = await import('../../../src/lib/dialects/stocking/capture.js')
    const part = fc.oneof(fc.constantFrom('0', '1', '2', '3', '4', '5', '6', '', ',', '{"e":"a","p":', '{"c":-1,"p":', '}', 'null', '"s"', '[1]'), fc.string())
    const message = fc.array(part, { maxLength: 8 }).map((parts) => parts.join(''))
    fc.assert(fc.property(message, fc.constantFrom('client' as const, 'server' as const), (text, from) => {
      for (const read of [() => frameOf(text, from), () => { const s = strictSplit(text); if (s.type === '4') decodeRequestBody(s.content) }]) {
        try {
          read()
        } catch (err) {
          expect((err as { code?: unknown }).code).toMatch(/^[A-Z][A-Z_]+$/)
        }
      }
    }))
  })
})
