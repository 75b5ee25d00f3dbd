import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { rawMember } from '../../src/lib/connect/json-member.js'

describe('rawMember', () => {
  it('returns the source text of a top-level member', () => {
    expect(rawMember('{"action":"a","payload":{"n":12345678901234567890,"s":"x\\"}"},"id":1}', 'payload')).toBe('{"n":12345678901234567890,"s":"x\\"}"}')
    expect(rawMember(' { "payload" : [1, {"a":"]"}] , "x": 2 } ', 'payload')).toBe('[1, {"a":"]"}]')
    expect(rawMember('{"payload":-1.5e3}', 'payload')).toBe('-1.5e3')
    expect(rawMember('{"payload":null,"id":true}', 'id')).toBe('true')
    expect(rawMember('{"a":{"payload":1}}', 'payload')).toBeUndefined()
    expect(rawMember('{"payload":1,"payload":2}', 'payload')).toBe('2')
    expect(rawMember('{"p\\u0061yload":1}', 'payload')).toBeUndefined()
    expect(rawMember('{}', 'payload')).toBeUndefined()
  })

  it('agrees with JSON.parse for any object', () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.jsonValue(), fc.boolean(), (obj, payload, spaced) => {
      const value = { ...obj, payload }
      const text = spaced ? JSON.stringify(value, null, 1) : JSON.stringify(value)
      const raw = rawMember(text, 'payload')
      if (Object.keys(obj).some((k) => k.includes('\\') || JSON.stringify(k).includes('\\'))) return
      expect(raw).toBeDefined()
      expect(JSON.parse(raw as string)).toEqual(JSON.parse(text).payload)
    }))
  })
})
