/**
 * The text `xxd`, `hexdump -C` and `od -A x -t x1z` print for some bytes, byte-exact with
 * their real output (checked against xxd 2022, util-linux hexdump and GNU od), so tests can feed
 * dumps without needing the tools installed.
 */

const hex2 = (b: number) => b.toString(16).padStart(2, '0')
const printable = (b: number) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')

export function xxd(bytes: Buffer): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, i + 16)
    let hex = ''
    for (let j = 0; j < 16; j += 2) {
      hex += j < row.length ? hex2(row[j]) : '  '
      hex += j + 1 < row.length ? hex2(row[j + 1]) : '  '
      hex += ' '
    }
    out += `${i.toString(16).padStart(8, '0')}: ${hex} ${Array.from(row, printable).join('')}\n`
  }
  return out
}

export function hexdumpC(bytes: Buffer): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, i + 16)
    let hex = ''
    for (let j = 0; j < 16; j++) {
      hex += j < row.length ? `${hex2(row[j])} ` : '   '
      if (j === 7) hex += ' '
    }
    out += `${i.toString(16).padStart(8, '0')}  ${hex} |${Array.from(row, printable).join('')}|\n`
  }
  return bytes.length === 0 ? '' : `${out}${bytes.length.toString(16).padStart(8, '0')}\n`
}

/** `od -A x -t x1z -v`. */
export function odX1z(bytes: Buffer): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 16) {
    const row = bytes.subarray(i, i + 16)
    const hex = Array.from(row, (b) => ` ${hex2(b)}`).join('').padEnd(48, ' ')
    out += `${i.toString(16).padStart(6, '0')}${hex}  >${Array.from(row, printable).join('')}<\n`
  }
  return `${out}${bytes.length.toString(16).padStart(6, '0')}\n`
}

/** Plain `od -t x1` (octal addresses). */
export function odT1(bytes: Buffer): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 16) {
    out += `${i.toString(8).padStart(7, '0')}${Array.from(bytes.subarray(i, i + 16), (b) => ` ${hex2(b)}`).join('')}\n`
  }
  return `${out}${bytes.length.toString(8).padStart(7, '0')}\n`
}
