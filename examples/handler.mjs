// A handler module for `stmpcat serve --handler examples/handler.mjs` (docs/serve.md).
//
// The default export is Koa-like middleware, (ctx, next) => ..., or an array of them, run in
// order for every request. ctx.input is the decoded payload, ctx.output (or ctx.body) the
// answer, encoded in the connection's content type; ctx.status defaults to 200 once an output
// is set, and to 404 when nothing answered. A thrown error becomes 500 with its message;
// ctx.throw(status, message) answers with that status.

/** Times every request and adds the handling time to object outputs. */
async function timing(ctx, next) {
  const started = performance.now()
  await next()
  if (ctx.output && typeof ctx.output === 'object' && !Array.isArray(ctx.output) && !Buffer.isBuffer(ctx.output)) {
    ctx.output.ms = Math.round((performance.now() - started) * 1000) / 1000
  }
}

/** Refuses requests of the admin.* actions unless the handshake carried the admin key. */
async function guard(ctx, next) {
  if (ctx.action.startsWith('admin.') && ctx.headers['x-admin-key'] !== 'letmein') ctx.throw(403, 'admin only')
  await next()
}

async function routes(ctx, next) {
  switch (ctx.action) {
    case 'math.add': {
      // Check the input before using it: a request with no data has no ctx.input at all, and
      // a client is owed a 400 saying what to send, not a 500 with a JavaScript message.
      const { a, b } = ctx.input ?? {}
      if (typeof a !== 'number' || typeof b !== 'number') ctx.throw(400, 'math.add needs {"a": NUMBER, "b": NUMBER}')
      ctx.output = { sum: a + b }
      return
    }
    case 'chat.join': {
      const room = roomOf(ctx)
      ctx.conn.join(room)
      ctx.output = { room, members: ctx.server.rooms[room] }
      return
    }
    case 'chat.say': {
      // Everyone in the room but the sender gets a push; the sender gets the count.
      const sent = ctx.server.broadcast(`room:${roomOf(ctx)}`, 'chat.message', { from: ctx.conn.id, text: ctx.input.text }, { except: ctx.conn })
      ctx.output = { sent }
      return
    }
    case 'ticker.start':
      // Three pushes to the caller, then the answer.
      for (let i = 1; i <= 3; i++) ctx.conn.push('ticker.tick', { i })
      ctx.body = { started: true }
      return
    case 'fail':
      throw new Error('this handler always fails')
    case 'admin.stats':
      ctx.output = { connections: ctx.server.connections.length, rooms: ctx.server.rooms }
      return
    default:
      await next()
  }
}

/** The room a chat request names, or a 400. */
function roomOf(ctx) {
  const room = ctx.input?.room
  if (typeof room !== 'string' || room === '') ctx.throw(400, `${ctx.action} needs {"room": NAME}`)
  return room
}

/** Anything else is echoed. */
function echo(ctx) {
  ctx.output = ctx.payload
}

export default [timing, guard, routes, echo]
