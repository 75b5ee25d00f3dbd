import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { StmpError } from '../../src/lib/errors.js'
import { getPayloadCodec, ProtoRegistry, type PayloadCodec, type PayloadContext } from '../../src/lib/payload/index.js'
import { codeOf, errorOf } from '../helpers/errors.js'

let dir: string
let registry: ProtoRegistry
let codec: PayloadCodec

const COMMON = `syntax = "proto3";
package shop.common;

message Money {
  string currency = 1;
  int64 units = 2;
}
`

const SHOP = `syntax = "proto3";
package shop.v1;

import "common/money.proto";
import "google/protobuf/empty.proto";

enum Priority {
  PRIORITY_UNSPECIFIED = 0;
  LOW = 1;
  HIGH = 2;
}

message Order {
  message Line {
    string sku = 1;
    uint32 quantity = 2;
    shop.common.Money price = 3;
  }
  int64 id = 1;
  repeated Line lines = 2;
  Priority priority = 3;
  bytes token = 4;
  map<string, int32> tags = 5;
  oneof contact {
    string email = 6;
    string phone = 7;
  }
  repeated int64 ids = 8;
  sint32 delta = 9;
}

message PlaceReply {
  int64 order_id = 1;
  bool accepted = 2;
}

message OrderShipped {
  int64 order_id = 1;
}

service OrderService {
  rpc Place(Order) returns (PlaceReply);
  rpc Cancel(PlaceReply) returns (google.protobuf.Empty);
}

service OrderEvents {
  rpc Updated(Order) returns (google.protobuf.Empty);
}
`

function write(rel: string, text: string): string {
  const file = path.join(dir, rel)
  mkdirSync(path.dirname(file), { recursive: true })
  writeFileSync(file, text)
  return file
}

const order = {
  id: '9007199254740993', // 2^53 + 1: only a string keeps it
  lines: [
    { sku: 'A-1', quantity: 2, price: { currency: 'EUR', units: '-5' } },
    { sku: 'B-2', quantity: 1, price: null },
  ],
  priority: 'HIGH',
  token: Buffer.from([0, 1, 2, 250]).toString('base64'),
  tags: { gift: 1 },
  email: 'a@example.com',
  ids: ['1', '-2'],
  delta: -7,
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'stmp-proto-'))
  // money.proto sits under include/ and is found only through the import path.
  write('include/common/money.proto', COMMON)
  const shop = write('protos/shop.proto', SHOP)
  registry = ProtoRegistry.load([shop], [path.join(dir, 'include')])
  codec = getPayloadCodec('application/protobuf', { protoRegistry: registry })
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('ProtoRegistry', () => {
  it('lists methods with request fields', () => {
    const methods = registry.methods()
    expect(methods.map((m) => m.fullName)).toEqual([
      'shop.v1.OrderEvents.Updated',
      'shop.v1.OrderService.Cancel',
      'shop.v1.OrderService.Place',
    ])
    const place = methods.find((m) => m.name === 'Place')!
    expect(place.service).toBe('shop.v1.OrderService')
    expect(place.requestType).toBe('shop.v1.Order')
    expect(place.responseType).toBe('shop.v1.PlaceReply')
    const byName = Object.fromEntries(place.fields.map((f) => [f.name, f]))
    expect(byName.id).toMatchObject({ type: 'int64', kind: 'scalar', repeated: false })
    expect(byName.lines).toMatchObject({ type: 'shop.v1.Order.Line', kind: 'message', repeated: true })
    expect(byName.lines.fields?.find((f) => f.name === 'price')).toMatchObject({ type: 'shop.common.Money', kind: 'message' })
    expect(byName.priority).toMatchObject({ kind: 'enum', values: ['PRIORITY_UNSPECIFIED', 'LOW', 'HIGH'] })
    expect(byName.tags).toMatchObject({ type: 'int32', keyType: 'string' })
    expect(byName.email.oneof).toBe('contact')
    expect(methods.find((m) => m.name === 'Cancel')!.responseType).toBe('google.protobuf.Empty')
  })

  it('a missing .proto file is BAD_PROTO', () => {
    expect(codeOf(() => ProtoRegistry.load([path.join(dir, 'nope.proto')], []))).toBe('BAD_PROTO')
    expect(codeOf(() => ProtoRegistry.load([], []))).toBe('BAD_PROTO')
  })

  it('an import not found through the import paths is BAD_PROTO naming the importing file and line', () => {
    const shop = path.join(dir, 'protos/shop.proto')
    const err = errorOf(() => ProtoRegistry.load([shop], []))
    expect(err.code).toBe('BAD_PROTO')
    expect(err.message).toContain(`${shop}:4`)
  })

  it('a syntax error is BAD_PROTO naming file and line', () => {
    const file = write('protos/broken.proto', 'syntax = "proto3";\nmessage A {\n  int32 x = ;\n}\n')
    const err = errorOf(() => ProtoRegistry.load([file], []))
    expect(err.code).toBe('BAD_PROTO')
    expect(err.message).toContain(`${file}:3`)
  })

  it('an unknown type is BAD_PROTO naming file and line', () => {
    const file = write('protos/unknown.proto', 'syntax = "proto3";\nmessage A {\n  int32 x = 1;\n  Missing m = 2;\n}\n')
    const err = errorOf(() => ProtoRegistry.load([file], []))
    expect(err.code).toBe('BAD_PROTO')
    expect(err.message).toContain(`${file}:4`)
  })
})

describe('protobuf codec', () => {
  const actions = ['shop.v1.OrderService.Place', 'OrderService/Place', 'shop.v1.OrderService/Place', '/shop.v1.OrderService/Place']

  it.each(actions)('round-trips a request named %s', (action) => {
    const req: PayloadContext = { action, role: 'request' }
    const bytes = codec.encode(order, req)
    const back = codec.decode(bytes, req) as Record<string, unknown>
    // defaults: true prints an unset message field as null; the oneof member that is not
    // set stays out.
    expect(back).toStrictEqual({ ...order, lines: [order.lines[0], { sku: 'B-2', quantity: 1, price: null }] })
    expect('phone' in back).toBe(false)
  })

  it('every action syntax gives the same bytes', () => {
    const all = actions.map((action) => codec.encode(order, { action, role: 'request' }).toString('hex'))
    expect(new Set(all).size).toBe(1)
  })

  it('pins the wire bytes of a small message', () => {
    // PlaceReply{order_id: 150, accepted: true} = 08 96 01 10 01
    const res: PayloadContext = { action: 'OrderService/Place', role: 'response' }
    expect(codec.fromText('{"order_id": 150, "accepted": true}', res).toString('hex')).toBe('0896011001')
    expect(codec.decode(Buffer.from('0896011001', 'hex'), res)).toEqual({ order_id: '150', accepted: true })
    // lowerCamelCase (protobuf JSON mapping) is accepted too.
    expect(codec.encode({ orderId: 150, accepted: true }, res).toString('hex')).toBe('0896011001')
  })

  it('decodes defaults for an empty payload', () => {
    const res: PayloadContext = { action: 'OrderService.Place', role: 'response' }
    expect(codec.decode(Buffer.alloc(0), res)).toEqual({ order_id: '0', accepted: false })
    expect(codec.fromText('', res).length).toBe(0)
  })

  it('enums by number, int64 by number', () => {
    const req: PayloadContext = { action: 'OrderService/Place', role: 'request' }
    const back = codec.decode(codec.encode({ priority: 1, id: 42 }, req), req) as Record<string, unknown>
    expect(back.priority).toBe('LOW')
    expect(back.id).toBe('42')
  })

  it('pushes: a message type by name, or a method whose request type they carry', () => {
    const byType: PayloadContext = { action: 'shop.v1.OrderShipped', role: 'push' }
    expect(codec.decode(codec.encode({ order_id: '7' }, byType), byType)).toEqual({ order_id: '7' })
    const byShortType: PayloadContext = { action: 'OrderShipped', role: 'push' }
    expect(codec.encode({ order_id: '7' }, byShortType).toString('hex')).toBe('0807')
    const byMethod: PayloadContext = { action: 'OrderEvents/Updated', role: 'push' }
    expect((codec.decode(codec.encode({ id: 3 }, byMethod), byMethod) as Record<string, unknown>).id).toBe('3')
    expect(codeOf(() => codec.encode({}, { action: 'NoSuchEvent', role: 'push' }))).toBe('BAD_PAYLOAD')
  })

  it('a field value that does not fit is BAD_PAYLOAD', () => {
    const req: PayloadContext = { action: 'OrderService/Place', role: 'request' }
    const cases: unknown[] = [
      { id: 'abc' },
      { id: 1.5 },
      { id: '9223372036854775808' }, // int64 max + 1
      { lines: { sku: 'x' } }, // repeated needs an array
      { lines: [{ quantity: -1 }] },
      { lines: [{ quantity: 'two' }] },
      { lines: [{ price: { units: true } }] },
      { priority: 'URGENT' },
      { priority: 1.5 },
      { token: 'not base64!' },
      { tags: { a: 'x' } },
      { tags: [1] },
      { email: 'a', phone: 'b' }, // two members of one oneof
      { delta: 2 ** 31 },
      { nosuchfield: 1 },
      JSON.parse('{"__proto__": {"id": 1}}'),
      { toString: 1 },
      { constructor: {} },
      [1, 2],
      'text',
    ]
    for (const value of cases) {
      expect({ value, code: codeOf(() => codec.encode(value, req)) }).toEqual({ value, code: 'BAD_PAYLOAD' })
    }
  })

  it('unknown or ambiguous actions, bad JSON and bad bytes are BAD_PAYLOAD', () => {
    expect(codeOf(() => codec.encode({}, { action: 'OrderService/Refund', role: 'request' }))).toBe('BAD_PAYLOAD')
    expect(codeOf(() => codec.encode({}, { action: 'Place', role: 'request' }))).toBe('BAD_PAYLOAD')
    expect(codeOf(() => codec.fromText('{"id": 1,}', { action: 'OrderService/Place', role: 'request' }))).toBe('BAD_PAYLOAD')
    // field 1 (varint) with a truncated varint
    expect(codeOf(() => codec.decode(Buffer.from('08ff', 'hex'), { action: 'OrderService/Place', role: 'request' }))).toBe('BAD_PAYLOAD')
  })

  it('a service name found in two packages must be named with its package', () => {
    const a = write('ambig/a.proto', 'syntax = "proto3";\npackage a;\nmessage M { int32 x = 1; }\nservice S { rpc Do(M) returns (M); }\n')
    const b = write('ambig/b.proto', 'syntax = "proto3";\npackage b;\nmessage M { int32 x = 1; }\nservice S { rpc Do(M) returns (M); }\n')
    const reg = ProtoRegistry.load([a, b], [])
    const pb = getPayloadCodec('protobuf', { protoRegistry: reg })
    expect(codeOf(() => pb.encode({ x: 1 }, { action: 'S/Do', role: 'request' }))).toBe('BAD_PAYLOAD')
    expect(pb.encode({ x: 1 }, { action: 'b.S/Do', role: 'request' }).toString('hex')).toBe('0801')
  })

  it('property: encode and decode throw nothing but BAD_PAYLOAD on random input', () => {
    const req: PayloadContext = { action: 'OrderService/Place', role: 'request' }
    const keys = fc.constantFrom('id', 'lines', 'priority', 'token', 'tags', 'email', 'phone', 'ids', 'delta', 'sku', 'price', 'x')
    const value = fc.letrec((tie) => ({
      v: fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.array(tie('v'), { maxLength: 3 }), fc.dictionary(keys, tie('v'), { maxKeys: 4 })),
    })).v
    fc.assert(
      fc.property(fc.dictionary(keys, value, { maxKeys: 5 }), (obj) => {
        try {
          const bytes = codec.encode(obj, req)
          // Whatever was accepted decodes again.
          expect(typeof codec.decode(bytes, req)).toBe('object')
        } catch (err) {
          expect(err).toBeInstanceOf(StmpError)
          expect((err as StmpError).code).toBe('BAD_PAYLOAD')
        }
      }),
      { numRuns: 500 },
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (arr) => {
        try {
          codec.decode(Buffer.from(arr), req)
        } catch (err) {
          expect(err).toBeInstanceOf(StmpError)
          expect((err as StmpError).code).toBe('BAD_PAYLOAD')
        }
      }),
      { numRuns: 500 },
    )
  })

  it('property: decode output encodes back to the same bytes', () => {
    const req: PayloadContext = { action: 'OrderService/Place', role: 'request' }
    const line = fc.record({ sku: fc.string(), quantity: fc.nat(), price: fc.record({ currency: fc.string(), units: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String) }) })
    const orders = fc.record({
      id: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
      lines: fc.array(line, { maxLength: 3 }),
      priority: fc.constantFrom('PRIORITY_UNSPECIFIED', 'LOW', 'HIGH'),
      token: fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b).toString('base64')),
      tags: fc.dictionary(fc.string(), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxKeys: 3 }),
      delta: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    })
    fc.assert(
      fc.property(orders, (o) => {
        const bytes = codec.encode(o, req)
        const back = codec.decode(bytes, req)
        expect(codec.encode(back, req).equals(bytes)).toBe(true)
      }),
      { numRuns: 300 },
    )
  })
})
