import type { ChalkInstance } from 'chalk'

/**
 * Re-layout of JSON text that is already known to be valid, token by token, without parsing it
 * into values: numbers keep every digit (an int64 id beyond 2^53 prints as sent, where
 * JSON.parse + JSON.stringify would round it), strings keep their escapes, key order and
 * duplicate keys stay as they were.
 */

type Token = { type: 'punct'; text: string } | { type: 'string' | 'number' | 'literal'; text: string }

function* tokens(text: string): Generator<Token> {
  const n = text.length
  let i = 0
  while (i < n) {
    const c = text[i]
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') {
      i++
      continue
    }
    if (c === '"') {
      let j = i + 1
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1
      yield { type: 'string', text: text.slice(i, j + 1) }
      i = j + 1
      continue
    }
    if ('{}[],:'.includes(c)) {
      yield { type: 'punct', text: c }
      i++
      continue
    }
    let j = i
    while (j < n && !' \n\r\t{}[],:"'.includes(text[j])) j++
    const word = text.slice(i, j)
    yield { type: /^[-0-9]/.test(word) ? 'number' : 'literal', text: word }
    i = j
  }
}

/**
 * Valid JSON text on one line, whitespace outside strings removed; coloured like prettyJson
 * when `chalk` has colour (FORCE_COLOR in a pipe, see colors.ts).
 */
export function compactJson(text: string, chalk?: ChalkInstance): string {
  let out = ''
  if (chalk === undefined || chalk.level === 0) {
    for (const t of tokens(text)) out += t.text
    return out
  }
  const stack: string[] = []
  let expectKey = false
  for (const t of tokens(text)) {
    if (t.type === 'punct') {
      out += t.text
      if (t.text === '{' || t.text === '[') stack.push(t.text)
      else if (t.text === '}' || t.text === ']') stack.pop()
      expectKey = (t.text === '{' || t.text === ',') && stack[stack.length - 1] === '{'
      continue
    }
    out += colorToken(chalk, t.type, t.text, expectKey)
    expectKey = false
  }
  return out
}

function colorToken(chalk: ChalkInstance, type: 'string' | 'number' | 'literal', text: string, key: boolean): string {
  if (type === 'string') return key ? chalk.blue(text) : chalk.green(text)
  return type === 'number' ? chalk.yellow(text) : chalk.magenta(text)
}

/**
 * Valid JSON text indented by `indent` spaces, coloured with `chalk` (keys blue, strings green,
 * numbers yellow, true/false/null magenta; a level-0 chalk gives plain text).
 */
export function prettyJson(text: string, chalk: ChalkInstance, indent = 2): string {
  let out = ''
  let depth = 0
  let expectKey = false
  // After an opening bracket the line break waits: an empty {} or [] stays on one line.
  let pendingOpen = false
  const stack: string[] = []
  const newline = () => `\n${' '.repeat(depth * indent)}`
  for (const t of tokens(text)) {
    if (pendingOpen && !(t.type === 'punct' && (t.text === '}' || t.text === ']'))) {
      out += newline()
      pendingOpen = false
    }
    if (t.type === 'punct') {
      switch (t.text) {
        case '{':
        case '[':
          out += t.text
          stack.push(t.text)
          depth++
          pendingOpen = true
          expectKey = t.text === '{'
          break
        case '}':
        case ']':
          depth--
          stack.pop()
          if (pendingOpen) pendingOpen = false
          else out += newline()
          out += t.text
          break
        case ',':
          out += `,${newline()}`
          expectKey = stack[stack.length - 1] === '{'
          break
        case ':':
          out += ': '
          expectKey = false
          break
      }
      continue
    }
    out += colorToken(chalk, t.type, t.text, expectKey)
    expectKey = false
  }
  return out
}
