/**
 * The prompt's transaction progress (connect on a terminal): from a dialect's tx-* events, one
 * line when a transaction starts, a progress line at each tenth of a known size (each MiB when the
 * size is unknown), one when it finishes or is saved. Undefined: nothing to print for this event.
 */
export class TxProgress {
  private readonly open = new Map<number, { name: string; size: number; step: number }>()

  line(event: string, data: Record<string, unknown>): string | undefined {
    const txId = typeof data.txId === 'number' ? data.txId : -1
    const name = typeof data.name === 'string' ? data.name : this.open.get(txId)?.name ?? `#${txId}`
    switch (event) {
      case 'tx-start': {
        const size = typeof data.size === 'number' ? data.size : -1
        this.open.set(txId, { name, size, step: 0 })
        return `transaction ${txId} ${name}: ${data.behaviour === 'pull' ? `offered (pull: /fetch ${txId} gets it)` : 'started'}, ${size >= 0 ? bytes(size) : 'size unknown'}`
      }
      case 'tx-chunk': {
        const t = this.open.get(txId)
        const received = typeof data.received === 'number' ? data.received : 0
        if (t === undefined) return undefined
        const step = t.size > 0 ? Math.floor((received / t.size) * 10) : Math.floor(received / (1024 * 1024))
        if (step <= t.step) return undefined
        t.step = step
        return t.size > 0
          ? `transaction ${txId} ${name}: ${bar(received / t.size)} ${Math.min(100, Math.floor((received / t.size) * 100))}% ${bytes(received)} of ${bytes(t.size)}`
          : `transaction ${txId} ${name}: ${bytes(received)}`
      }
      case 'tx-finish':
        this.open.delete(txId)
        return `transaction ${txId} ${name}: finished, ${bytes(typeof data.bytes === 'number' ? data.bytes : 0)} in ${String(data.chunks)} chunks`
          + (typeof data.offByOne === 'number' && data.offByOne > 0 ? ` (${data.offByOne} at CAMP-Server's off-by-one offsets)` : '')
      case 'tx-saved':
        return `transaction ${txId} ${name}: saved to ${String(data.path)}`
      case 'tx-refused':
        return `transaction ${txId} ${name}: ${String(data.code)}: ${String(data.message)}`
      case 'tx-cancel':
        this.open.delete(txId)
        return `transaction ${txId} ${name}: cancelled by the peer`
      default:
        return undefined
    }
  }
}

function bar(fraction: number): string {
  const n = Math.max(0, Math.min(20, Math.round(fraction * 20)))
  return `[${'#'.repeat(n)}${'.'.repeat(20 - n)}]`
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}
