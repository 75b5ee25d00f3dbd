import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { IdMap } from '../../src/lib/session/id-map.js'

describe('IdMap (pending requests by id)', () => {
  it('behaves as a Map under random sets, deletes and lookups, through growth and wrap-around probes', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), id: fc.integer({ min: 1, max: 65535 }), value: fc.integer() }),
      // Ids that collide on small tables (same low bits) exercise the probe runs and backward shifts.
      fc.record({ kind: fc.constant('set' as const), id: fc.integer({ min: 0, max: 40 }).map((k) => 1 + k * 16), value: fc.integer() }),
      fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 40 }).map((k) => 1 + k * 16) }),
      fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 1, max: 65535 }) }),
    )
    fc.assert(fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const map = new IdMap<number>()
      const ref = new Map<number, number>()
      for (const o of ops) {
        if (o.kind === 'set') {
          map.set(o.id, o.value)
          ref.set(o.id, o.value)
        } else {
          expect(map.delete(o.id)).toBe(ref.get(o.id))
          ref.delete(o.id)
        }
        expect(map.size).toBe(ref.size)
      }
      for (const [id, value] of ref) expect(map.get(id)).toBe(value)
      for (let k = 0; k <= 40; k++) expect(map.has(1 + k * 16)).toBe(ref.has(1 + k * 16))
      expect(new Map(map.entries())).toEqual(ref)
    }), { numRuns: 400 })
  })

  it('clear() empties it', () => {
    const map = new IdMap<string>()
    for (let id = 1; id <= 100; id++) map.set(id, `r${id}`)
    map.clear()
    expect(map.size).toBe(0)
    expect(map.get(5)).toBeUndefined()
    expect(map.entries()).toEqual([])
  })
})
