/**
 * Reading `decode` input that is text: plain hex, an `xxd` / `hexdump -C` / `od -Ax -tx1` dump,
 * or base64, back to the bytes it shows. Pure: bytes in, bytes out, no I/O.
 *
 * Auto detection, in this order (the first that fits wins):
 * 1. Input that is not printable ASCII text (bytes other than TAB, LF, CR, 0x20-0x7e) is raw.
 * 2. `xxd` (also `-a`, `-u`, `-g N`, `-c N`): every data line is `OFFSET: HEX  ASCII`.
 * 3. `hexdump -C` (also `-v`): `OFFSET  HH HH ...  |ASCII|`, the last line the end offset.
 * 4. `od -Ax -tx1` (also `-v`, `-Ao`/`-Ad` offsets, `-tx1z`): `OFFSET HH HH ...`, the last line
 *    the end offset. The radix of the offsets is not written: 6-digit offsets (od -Ax) are read
 *    as hex first, 7-digit ones (od's default -Ao, and -Ad) as octal first, then the other
 *    radixes until the offsets add up. A dump whose repeats follow its first line can add up
 *    in two radixes (`-Ad` with `*` reads as `-Ao`): use `od -Ax` or `-v` for such data.
 * 5. Plain hex: hex digits with whitespace, `:` and `,` separators and `0x` / `\x` prefixes.
 * 6. Base64, standard or URL-safe, padded or not, wrapped at line breaks. Auto mode wants no
 *    spaces inside a line, so that prose stays raw; a single word such as `hello` is valid
 *    base64 and is read as base64 (a raw binary STMP capture is never printable text: its
 *    head and id bytes are control characters).
 * 7. Anything else is raw bytes.
 *
 * A `*` line in a dump (xxd -a, hexdump -C, od without -v) means "the previous line repeats
 * until the next offset". The next line's offset says how many bytes that is, so a dump that
 * ends in a `*` needs its final offset line (hexdump and od always print it).
 *
 * Ambiguity, hex against base64: a text whose characters are all hex digits (plus the hex
 * separators above) with an even number of digits is hex, never base64. `deadbeef` is valid
 * base64 too, but hex dumps are what people paste from tools and logs, and an even run of hex
 * digits is far more likely to be hex than base64 that happens to avoid every letter above `f`.
 * Give `--input base64` for such base64. Such text with an odd number of digits is base64 when
 * it parses as base64, else BAD_INPUT (a hex digit missing). (Likewise, a lone STMP text-format frame like `pAAE`
 * is valid base64; the caller reads text-format input as raw.)
 *
 * `tcpdump -x` / `-X` output is refused (BAD_INPUT): it shows whole packets, headers included,
 * not a stream; tcpdump's pcap (`-w`) is what decode reads for captures.
 *
 * Dump-shaped input (a line that looks like xxd or hexdump -C, or two or more od lines) that
 * does not parse is BAD_INPUT, in auto mode too: a damaged dump read as raw text would only
 * give a stream of misleading protocol errors.
 */
import { StmpError } from '../errors.js'

export type InputMode = 'auto' | 'hex' | 'base64' | 'raw'
export type DetectedInput = 'hex' | 'xxd' | 'hexdump' | 'od' | 'base64' | 'raw'

export interface ParsedInput {
  bytes: Buffer
  detected: DetectedInput
}

export interface ParseInputOptions {
  /**
   * The most bytes a dump may expand to (default 256 MiB): one `*` line and a large end offset
   * would otherwise turn a few bytes of text into gigabytes. Over it → BAD_INPUT.
   */
  maxBytes?: number
}

export const DEFAULT_MAX_INPUT_BYTES = 256 * 1024 * 1024

export function parseInput(bytes: Buffer, mode: InputMode, options: ParseInputOptions = {}): ParsedInput {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INPUT_BYTES
  switch (mode) {
    case 'raw':
      return { bytes, detected: 'raw' }
    case 'base64':
      return { bytes: parseBase64(new TextSource(bytes), true) as Buffer, detected: 'base64' }
    case 'hex': {
      const src = new TextSource(bytes)
      return parseDumpOrHex(src, maxBytes, true) as ParsedInput
    }
    case 'auto': {
      if (!isPrintableText(bytes)) return { bytes, detected: 'raw' }
      const src = new TextSource(bytes)
      if (src.text.trim() === '') return { bytes, detected: 'raw' }
      const hex = parseDumpOrHex(src, maxBytes, false)
      if (hex !== undefined) return hex
      const b64 = looksLikeBase64(src.text) ? parseBase64(src, false) : undefined
      if (b64 !== undefined) return { bytes: b64, detected: 'base64' }
      return { bytes, detected: 'raw' }
    }
  }
  throw new StmpError('BAD_FLAG', `unknown input mode "${String(mode)}"; use auto, hex, base64 or raw`)
}

/** TAB, LF, CR and 0x20-0x7e only: dumps, hex and base64 are ASCII. */
function isPrintableText(bytes: Buffer): boolean {
  for (const b of bytes) {
    if ((b < 0x20 || b > 0x7e) && b !== 0x09 && b !== 0x0a && b !== 0x0d) return false
  }
  return true
}

/** The input as text, split in lines, with positions for error messages. */
class TextSource {
  readonly text: string
  /** Lines without their line ends; `starts[i]` is the offset of line i in the input. */
  readonly lines: string[]
  readonly starts: number[]

  constructor(bytes: Buffer) {
    // latin1: one character per byte, so a character's index is its byte offset.
    this.text = bytes.toString('latin1')
    this.lines = []
    this.starts = []
    let start = 0
    for (;;) {
      const nl = this.text.indexOf('\n', start)
      const end = nl < 0 ? this.text.length : nl
      let line = this.text.slice(start, end)
      if (line.endsWith('\r')) line = line.slice(0, -1)
      this.lines.push(line)
      this.starts.push(start)
      if (nl < 0) break
      start = nl + 1
    }
  }

  /** BAD_INPUT at line `i` (0-based), column `col` (0-based); `offset` is the byte offset. */
  error(i: number, col: number, message: string): StmpError {
    return new StmpError('BAD_INPUT', `line ${i + 1} column ${col + 1}: ${message}`, { offset: this.starts[i] + col })
  }

  /** Line and column of a text offset. */
  errorAt(offset: number, message: string): StmpError {
    let i = 0
    while (i + 1 < this.starts.length && this.starts[i + 1] <= offset) i++
    return this.error(i, offset - this.starts[i], message)
  }
}

// ---------------------------------------------------------------------------------------------
// Dumps

interface DumpLine {
  /** 0-based line index in the input. */
  index: number
  /** A `*` line. */
  star?: boolean
  /** The offset as written and the column it starts at. */
  offsetText?: string
  /** The bytes of a data line; undefined for a lone end-offset line. */
  data?: Buffer
}

const XXD_LINE = /^([0-9a-fA-F]+): /
const HEXDUMP_LINE = /^([0-9a-fA-F]+) {2}[0-9a-fA-F]{2}[ 0-9a-fA-F]*\|/
const OD_LINE = /^([0-9a-fA-F]{6,})((?: [0-9a-fA-F]{2})+)(?: +>.*<)?$/
const LONE_OFFSET = /^[0-9a-fA-F]+$/
/** `hexdump` without -C and `od -x`: 16-bit words in host byte order, not byte order. */
/** A hex line of `tcpdump -x`, `-xx`, `-X` or `-XX`: indented `0xOFFSET:` then 16-bit groups. */
const TCPDUMP_HEX_LINE = /^\s+0x[0-9a-fA-F]{4,}: +[0-9a-fA-F]{2,4}(?: [0-9a-fA-F]{2,4})*(?: {2,}.*)?$/
const WORD_DUMP_LINE = /^[0-9a-f]{7}(?: [0-9a-f]{4})+$/

/**
 * The dump formats, then plain hex. `strict` (explicit `--input hex`): text that is none of
 * them is BAD_INPUT; otherwise undefined.
 */
function parseDumpOrHex(src: TextSource, maxBytes: number, strict: boolean): ParsedInput | undefined {
  const first = src.lines.findIndex((l) => l.trim() !== '')
  if (first < 0) return { bytes: Buffer.alloc(0), detected: 'hex' }
  const line = src.lines[first]
  const tcpdump = src.lines.findIndex((l) => TCPDUMP_HEX_LINE.test(l))
  if (tcpdump >= 0) {
    // Whole packets (IP and TCP headers, several connections), not one STMP stream: read as hex they
    // would give a stream of bogus protocol errors. The pcap tcpdump writes has all that is needed.
    throw src.error(tcpdump, 0, 'this looks like `tcpdump -x` / `-X` output: whole packets with their IP and TCP headers, not an STMP stream; capture with `tcpdump -w FILE` (`-U -w -` for a live pipe) and decode that pcap')
  }
  if (XXD_LINE.test(line)) return { bytes: assemble(src, parseXxd(src), 16, maxBytes), detected: 'xxd' }
  if (HEXDUMP_LINE.test(line)) return { bytes: assemble(src, parseHexdump(src), 16, maxBytes), detected: 'hexdump' }
  if (OD_LINE.test(line)) {
    const od = parseOd(src, maxBytes)
    if (od !== undefined) return { bytes: od, detected: 'od' }
  }
  const nonEmpty = src.lines.map((l) => l.trimEnd()).filter((l) => l !== '')
  if (nonEmpty.every((l) => WORD_DUMP_LINE.test(l) || /^[0-9a-f]{7}$/.test(l) || l.trim() === '*') && nonEmpty.length >= 2) {
    throw src.error(first, 0, 'this looks like `hexdump` or `od -x` output (16-bit words in host byte order); use `hexdump -C`, `xxd` or `od -Ax -tx1`')
  }
  return parsePlainHex(src, strict)
}

/**
 * The shape every dump format shares: blank lines skipped, a lone `*` repeats the line before
 * (until the next offset), anything else goes to `parse`, which returns undefined to give up.
 */
function dumpLines(src: TextSource, parse: (line: string, index: number) => DumpLine | undefined): DumpLine[] | undefined {
  const out: DumpLine[] = []
  for (const [index, line] of src.lines.entries()) {
    if (line.trim() === '') continue
    if (line.trim() === '*') {
      out.push({ index, star: true })
      continue
    }
    const parsed = parse(line, index)
    if (parsed === undefined) return undefined
    out.push(parsed)
  }
  return out
}

function parseXxd(src: TextSource): DumpLine[] {
  return dumpLines(src, (line, index) => {
    const m = XXD_LINE.exec(line)
    if (m === null) throw src.error(index, 0, 'not an xxd line (expected `OFFSET: HEX  TEXT`)')
    const hexStart = m[0].length
    // The hex column ends at the first double space; the text column after it is ignored.
    const end = line.indexOf('  ', hexStart)
    const hexArea = end < 0 ? line.slice(hexStart) : line.slice(hexStart, end)
    return { index, offsetText: m[1], data: hexDigits(src, index, hexStart, hexArea, ' ') }
  }) as DumpLine[]
}

function parseHexdump(src: TextSource): DumpLine[] {
  return dumpLines(src, (line, index) => {
    if (LONE_OFFSET.test(line)) return { index, offsetText: line }
    const m = /^([0-9a-fA-F]+) {2}/.exec(line)
    const bar = line.indexOf('|')
    if (m === null || bar < 0) throw src.error(index, 0, 'not a hexdump -C line (expected `OFFSET  HH HH ...  |TEXT|`)')
    const hexStart = m[0].length
    return { index, offsetText: m[1], data: byteTokens(src, index, hexStart, line.slice(hexStart, bar)) }
  }) as DumpLine[]
}

/**
 * od lines; undefined when the text is better read as plain hex (a single line whose first
 * token could be data, or offsets that add up in no radix). Two or more od-shaped lines whose
 * offsets do not add up are BAD_INPUT.
 */
function parseOd(src: TextSource, maxBytes: number): Buffer | undefined {
  let odShaped = 0
  const lines = dumpLines(src, (line, index) => {
    if (LONE_OFFSET.test(line)) {
      odShaped++
      return { index, offsetText: line }
    }
    const m = OD_LINE.exec(line)
    if (m === null) return undefined
    odShaped++
    return { index, offsetText: m[1], data: byteTokens(src, index, m[1].length, m[2]) }
  })
  if (lines === undefined) return undefined
  const startsAtZero = lines[0].offsetText !== undefined && /^0+$/.test(lines[0].offsetText)
  if (odShaped < 2 && !startsAtZero) return undefined
  let firstError: unknown
  const width = (lines.find((l) => l.offsetText !== undefined)?.offsetText ?? '').length
  for (const radix of width === 7 ? [8, 10, 16] : [16, 8, 10]) {
    try {
      return assemble(src, lines, radix, maxBytes)
    } catch (err) {
      if (limitErrors.has(err as object)) throw err
      firstError ??= err
    }
  }
  if (odShaped >= 2) throw firstError
  return undefined
}

/** Hex digit pairs, with `sep` allowed between pairs (xxd groups). */
function hexDigits(src: TextSource, index: number, col: number, area: string, sep: string): Buffer {
  const out: number[] = []
  let i = 0
  while (i < area.length) {
    if (area[i] === sep) {
      i++
      continue
    }
    const hi = hexValue(area[i])
    const lo = hexValue(area[i + 1] ?? '')
    if (hi < 0) throw src.error(index, col + i, `"${area[i]}" is not a hex digit`)
    if (lo < 0) throw src.error(index, col + i + 1, area[i + 1] === undefined || area[i + 1] === sep ? 'odd number of hex digits' : `"${area[i + 1]}" is not a hex digit`)
    out.push(hi * 16 + lo)
    i += 2
  }
  return Buffer.from(out)
}

/** Space-separated two-digit bytes (hexdump -C, od). */
function byteTokens(src: TextSource, index: number, col: number, area: string): Buffer {
  const out: number[] = []
  const re = /\S+/g
  for (let m = re.exec(area); m !== null; m = re.exec(area)) {
    const tok = m[0]
    if (tok.length !== 2) throw src.error(index, col + m.index, `"${tok}" is not a two-digit hex byte`)
    const hi = hexValue(tok[0])
    const lo = hexValue(tok[1])
    if (hi < 0 || lo < 0) throw src.error(index, col + m.index + (hi < 0 ? 0 : 1), `"${tok}" is not a hex byte`)
    out.push(hi * 16 + lo)
  }
  return Buffer.from(out)
}

function hexValue(c: string): number {
  const code = c.charCodeAt(0)
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  if (code >= 0x41 && code <= 0x46) return code - 0x37
  if (code >= 0x61 && code <= 0x66) return code - 0x57
  return -1
}

/**
 * Dump lines to bytes. Offsets are relative to the first line's (xxd -s and od -j dumps start
 * past 0). Every line must start where the previous one ended; after a `*`, the gap to the
 * next offset must be whole copies of the line before the `*`.
 */
/** The size limit is not a radix question: parseOd must not try the next radix after it. */
const limitErrors = new WeakSet<object>()

function overLimit(src: TextSource, index: number, maxBytes: number): StmpError {
  const err = src.error(index, 0, `the dump expands past the ${maxBytes}-byte limit`)
  limitErrors.add(err)
  return err
}

function assemble(src: TextSource, lines: DumpLine[], radix: number, maxBytes: number): Buffer {
  const chunks: Buffer[] = []
  let pos = 0
  let base: number | undefined
  let prev: Buffer | undefined
  let starLine: number | undefined
  let ended = false
  for (const line of lines) {
    if (ended) throw src.error(line.index, 0, 'text after the final offset line')
    if (line.star === true) {
      if (prev === undefined || prev.length === 0) throw src.error(line.index, 0, '"*" with no line before it to repeat')
      starLine = line.index
      continue
    }
    const text = line.offsetText as string
    const value = parseInt(text, radix)
    if (text.length > 13 || Number.isNaN(value) || ![...text].every((c) => parseInt(c, radix) < radix)) {
      throw src.error(line.index, 0, `bad offset "${text}"`)
    }
    base ??= value
    const off = value - base
    if (starLine !== undefined && prev !== undefined) {
      const gap = off - pos
      if (gap < 0 || gap % prev.length !== 0) {
        throw src.error(line.index, 0, `offset ${text} does not end a run of repeats of the ${prev.length}-byte line before "*"`)
      }
      if (pos + gap > maxBytes) throw overLimit(src, line.index, maxBytes)
      for (let n = gap / prev.length; n > 0; n--) chunks.push(prev)
      pos += gap
      starLine = undefined
    } else if (off !== pos) {
      throw src.error(line.index, 0, `offset ${text} where ${(base + pos).toString(radix)} was expected`)
    }
    if (line.data === undefined) {
      ended = true
      continue
    }
    if (pos + line.data.length > maxBytes) throw overLimit(src, line.index, maxBytes)
    chunks.push(line.data)
    pos += line.data.length
    prev = line.data
  }
  if (starLine !== undefined) throw src.error(starLine, 0, '"*" at the end needs the final offset line to know how often the line repeats')
  return Buffer.concat(chunks, pos)
}

// ---------------------------------------------------------------------------------------------
// Plain hex and base64

/**
 * Hex digits, with whitespace, `:` and `,` between them and a `0x` / `\x` prefix allowed
 * before any run of digits. The digits are read as one run (a line break may fall inside a
 * byte, as when `xxd -p` output is re-wrapped), so their count must be even.
 */
function parsePlainHex(src: TextSource, strict: boolean): ParsedInput | undefined {
  const s = src.text
  const out = Buffer.alloc(s.length >> 1)
  let n = 0
  let half = -1
  let halfAt = 0
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    const v = hexValue(c)
    if (v >= 0) {
      // `0x` / `\x`: a prefix only where a run of digits starts.
      if (c === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && half < 0 && startsRun(s, i)) {
        i++
        continue
      }
      if (half < 0) {
        half = v
        halfAt = i
      } else {
        out[n++] = half * 16 + v
        half = -1
      }
      continue
    }
    if (c === '\\' && s[i + 1] === 'x' && half < 0) {
      i++
      continue
    }
    // Not `-`: URL-safe base64 uses it, and `ab-cd` should stay base64.
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === ':' || c === ',') continue
    if (!strict) return undefined
    throw src.errorAt(i, `"${c}" is not a hex digit`)
  }
  if (half >= 0) {
    // Auto mode: text of hex digits alone, one short of whole bytes, is hex with a digit missing
    // (BAD_INPUT, not raw bytes and a misleading TRUNCATED), unless it is base64 (`deadbee`).
    if (!strict && looksLikeBase64(s) && parseBase64(src, false) !== undefined) return undefined
    throw src.errorAt(halfAt, `odd number of hex digits: this digit has no partner${strict ? '' : ' (for base64 or raw bytes, give --input base64 or --input raw)'}`)
  }
  return { bytes: out.subarray(0, n), detected: 'hex' }
}

/** True at the start of the text or after a separator. */
function startsRun(s: string, i: number): boolean {
  const before = s[i - 1]
  return before === undefined || ' \t\n\r:,'.includes(before)
}

const B64_CHAR = /[A-Za-z0-9+/_-]/

/** Auto mode: base64 is wrapped at line breaks, never split by spaces inside a line. */
function looksLikeBase64(text: string): boolean {
  return !text.split(/\r?\n/).some((l) => /\s/.test(l.trim()))
}

/**
 * Standard or URL-safe base64 (both alphabets are accepted, as Buffer does), whitespace and
 * line breaks ignored, padding optional but only at the end.
 */
function parseBase64(src: TextSource, strict: boolean): Buffer | undefined {
  const s = src.text
  let count = 0
  let pad = 0
  let firstPad = -1
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') continue
    if (c === '=') {
      if (firstPad < 0) firstPad = i
      pad++
      if (pad > 2) {
        if (!strict) return undefined
        throw src.errorAt(i, 'more than two "=" padding characters')
      }
      continue
    }
    if (!B64_CHAR.test(c) || pad > 0) {
      if (!strict) return undefined
      throw src.errorAt(i, pad > 0 ? `"${c}" after the "=" padding` : `"${c}" is not a base64 character`)
    }
    count++
  }
  // 4n+1 characters cannot come from whole bytes; with padding the total is a multiple of 4.
  const badLength = count % 4 === 1 || (pad > 0 && (count + pad) % 4 !== 0)
  if (badLength || (!strict && count === 0)) {
    if (!strict) return undefined
    throw src.errorAt(firstPad >= 0 ? firstPad : s.length, `${count} base64 characters${pad > 0 ? ` and ${pad} "="` : ''} cannot be whole bytes`)
  }
  return Buffer.from(s.replace(/[\s=]/g, ''), 'base64')
}
