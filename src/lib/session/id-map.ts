/**
 * A map from message id (1..65535) to the request waiting on it: open addressing with linear
 * probing over an Int32Array of keys. A client sends and answers hundreds of thousands of
 * requests a second, each one a set and a delete; a Map under that churn was ~10% of the load
 * generator's CPU (its deleted entries are compacted by rehashing). Starts at 8 slots, doubles
 * when half full, so an idle session costs next to nothing.
 */
export class IdMap<T> {
  private keys = new Int32Array(8)
  private values: (T | undefined)[] = new Array<T | undefined>(8).fill(undefined)
  private mask = 7
  size = 0

  get(id: number): T | undefined {
    const keys = this.keys
    for (let i = id & this.mask; ; i = (i + 1) & this.mask) {
      const key = keys[i]
      if (key === id) return this.values[i]
      if (key === 0) return undefined
    }
  }

  has(id: number): boolean {
    return this.get(id) !== undefined
  }

  /** `value` must not be undefined; ids are 1..65535 (0 marks an empty slot). */
  set(id: number, value: T): void {
    if ((this.size + 1) * 2 > this.keys.length) this.grow()
    const keys = this.keys
    let i = id & this.mask
    while (keys[i] !== 0 && keys[i] !== id) i = (i + 1) & this.mask
    if (keys[i] === 0) this.size++
    keys[i] = id
    this.values[i] = value
  }

  /** Removes the id; returns what it held. */
  delete(id: number): T | undefined {
    const keys = this.keys
    const mask = this.mask
    let i = id & mask
    for (;;) {
      if (keys[i] === 0) return undefined
      if (keys[i] === id) break
      i = (i + 1) & mask
    }
    const value = this.values[i]
    this.size--
    // Backward-shift deletion: pull later entries of the probe run into the hole so that every
    // entry stays reachable from its home slot without tombstones.
    for (let j = (i + 1) & mask; keys[j] !== 0; j = (j + 1) & mask) {
      const home = keys[j] & mask
      const between = i <= j ? home > i && home <= j : home > i || home <= j
      if (between) continue
      keys[i] = keys[j]
      this.values[i] = this.values[j]
      i = j
    }
    keys[i] = 0
    this.values[i] = undefined
    return value
  }

  /** Every entry, in slot order; the map may be changed while iterating the returned array. */
  entries(): Array<[number, T]> {
    const out: Array<[number, T]> = []
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== 0) out.push([this.keys[i], this.values[i] as T])
    return out
  }

  clear(): void {
    this.keys = new Int32Array(8)
    this.values = new Array<T | undefined>(8).fill(undefined)
    this.mask = 7
    this.size = 0
  }

  private grow(): void {
    const old = this.entries()
    const size = this.keys.length * 2
    this.keys = new Int32Array(size)
    this.values = new Array<T | undefined>(size).fill(undefined)
    this.mask = size - 1
    this.size = 0
    for (const [id, value] of old) this.set(id, value)
  }
}
