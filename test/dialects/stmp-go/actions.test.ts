import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { actionTable, methodAction, murmur3Sum32, nameOfAction, resolveAction } from '../../../src/lib/dialects/stmp-go/actions.js'
import { ProtoRegistry } from '../../../src/lib/payload/index.js'
import { FIXTURES } from './transcript.js'

/** Action ids as protoc-gen-stmp computes them, checked against ids in stmp-go's generated *.stmp.go files. */
describe('stmp-go action ids', () => {
  it('murmur3.Sum32 of the full method name: the ids of quick_start.stmp.go', () => {
    expect(murmur3Sum32('stmp.examples.quick_start.RoomService.JoinRoom')).toBe(0x33648f7)
    expect(murmur3Sum32('stmp.examples.quick_start.RoomService.ExitRoom')).toBe(0xa7ffd932)
    expect(murmur3Sum32('stmp.examples.quick_start.RoomEvents.UserJoin')).toBe(0x999b2807)
    expect(murmur3Sum32('stmp.examples.quick_start.RoomEvents.UserExit')).toBe(0x827247a2)
    // The reference vectors of MurmurHash3_x86_32 with seed 0.
    expect(murmur3Sum32('')).toBe(0)
    expect(murmur3Sum32('hello')).toBe(0x248bfa47)
    expect(murmur3Sum32('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723)
  })

  it('a table from .proto files: murmur3 without options, service<<8|method with them, Events services marked', () => {
    const room = actionTable(ProtoRegistry.load([join(FIXTURES, 'room_names.proto')]))
    expect([...room.byMethod.values()].map((e) => [e.method, e.action, e.events])).toEqual([
      ['stmp.examples.quick_start.RoomService.JoinRoom', 0x33648f7, false],
      ['stmp.examples.quick_start.RoomService.ExitRoom', 0xa7ffd932, false],
      ['stmp.examples.quick_start.RoomEvents.UserJoin', 0x999b2807, true],
      ['stmp.examples.quick_start.RoomEvents.UserExit', 0x827247a2, true],
    ])
    const gomoku = actionTable(ProtoRegistry.load([join(FIXTURES, 'gomoku/names.proto')]))
    expect([...gomoku.byMethod.values()].map((e) => [e.method, e.action])).toEqual([
      ['stmp.examples.gomoku.RoomService.MatchRoom', 0x101],
      ['stmp.examples.gomoku.RoomService.ListRoom', 0x102],
      ['stmp.examples.gomoku.RoomEvents.UserJoin', 0x201],
    ])
    const peer = actionTable(ProtoRegistry.load([join(FIXTURES, 'peer.proto')]))
    // The captures' action for stmpcat.peer.Echo.Echo.
    expect(peer.byMethod.get('stmpcat.peer.Echo.Echo')?.action).toBe(0x1234)
    expect(peer.byMethod.get('stmpcat.peer.Plain.Echo')?.action).toBe(murmur3Sum32('stmpcat.peer.Plain.Echo'))
    expect(peer.byMethod.get('stmpcat.peer.PeerEvents.Moved')?.events).toBe(true)
    expect(nameOfAction(0x1234, peer)).toBe('stmpcat.peer.Echo.Echo')
    expect(nameOfAction(0x99, peer)).toBe('0x99')
  })

  it('what a request carries: a number as given, a known method as its id, any other method as a string (SA)', () => {
    const peer = actionTable(ProtoRegistry.load([join(FIXTURES, 'peer.proto')]))
    expect(resolveAction('0x1234')).toEqual({ action: 0x1234 })
    expect(resolveAction('4660', peer)).toEqual({ action: 0x1234 })
    expect(resolveAction('stmpcat.peer.Echo.Echo', peer)).toEqual({ action: 0x1234 })
    expect(resolveAction('stmpcat.peer.Echo/Echo', peer)).toEqual({ action: 0x1234 })
    expect(resolveAction('stmpcat.peer.Echo.Echo')).toEqual({ method: 'stmpcat.peer.Echo.Echo' })
    expect(resolveAction('other.Svc.M', peer)).toEqual({ method: 'other.Svc.M' })
    expect(methodAction('x', 0x12, 0x34)).toBe(0x1234)
    expect(methodAction('x', 0xffffffffffffffn, 0xff)).toBe(0xffffffffffffffffn)
  })
})
