import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, onTestFinished } from 'vitest'

/** Directories made outside a test (at the top of a file, in beforeAll): removed after the file's tests. */
const fileScoped: string[] = []
afterAll(() => {
  for (const dir of fileScoped.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/**
 * A fresh directory under the OS temp directory, removed with everything in it when the test that
 * made it finishes (made outside a test: when the file's tests are done).
 */
export function tempDir(prefix = 'stmpcat-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  try {
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
  } catch {
    fileScoped.push(dir)
  }
  return dir
}
