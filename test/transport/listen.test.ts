import { describe, expect, it } from 'vitest'
import { listen, parseAddress } from '../../src/lib/transport/index.js'

describe('listen', () => {
  it('a port in use is LISTEN_FAILED with exit code 3, not the raw EADDRINUSE', async () => {
    const first = await listen(parseAddress('tcp://127.0.0.1:0', { listening: true }), { onConnection: () => undefined })
    try {
      const again = parseAddress(`tcp://127.0.0.1:${first.address.port}`, { listening: true })
      await expect(listen(again, { onConnection: () => undefined })).rejects.toMatchObject({ code: 'LISTEN_FAILED', exitCode: 3 })
      const ws = parseAddress(`ws://127.0.0.1:${first.address.port}/stmp`, { listening: true })
      await expect(listen(ws, { onConnection: () => undefined })).rejects.toMatchObject({ code: 'LISTEN_FAILED', exitCode: 3 })
    } finally {
      await first.close()
    }
  })
})
