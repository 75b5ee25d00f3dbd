import { expect } from 'vitest'
import { StmpError } from '../../src/lib/errors.js'

/** The StmpError `fn` throws; the test fails when it throws something else or nothing. */
export function errorOf(fn: () => unknown): StmpError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(StmpError)
    return err as StmpError
  }
  throw new Error('expected a StmpError, nothing was thrown')
}

/** The code of the StmpError `fn` throws. */
export function codeOf(fn: () => unknown): string {
  return errorOf(fn).code
}
