import type { Dialect, DialectFeatures } from '../dialects/types.js'

/** What `stmpcat dialects --json` prints for one dialect. */
export function dialectInfo(d: Dialect): Record<string, unknown> {
  return {
    name: d.name, title: d.title, summary: d.summary, schemes: d.schemes,
    features: Object.entries(d.features).filter(([, on]) => on).map(([f]) => f),
    flags: d.flags, contentTypes: d.contentTypes, idSpace: d.idSpace,
    decode: d.capture !== undefined, benchFastPath: d.template !== undefined,
    statuses: d.statuses ?? [],
  }
}

const FEATURE_WORDS: Record<keyof DialectFeatures, string> = {
  requests: 'requests', pushes: 'pushes', ping: 'ping', headers: 'headers', rooms: 'rooms', acks: 'acks',
  transactions: 'transactions', typedBuffers: 'typed buffers', fragmentation: 'fragmentation', textFormat: 'text format',
}

/** The dialects for people: one block each. */
export function dialectsText(dialects: Dialect[], bold: (s: string) => string): string {
  const blocks = dialects.map((d, i) => {
    const features = (Object.keys(d.features) as (keyof DialectFeatures)[]).filter((f) => d.features[f]).map((f) => FEATURE_WORDS[f])
    const lines = [
      `${bold(d.name)}${i === 0 ? ' (default)' : ''}: ${d.title}: ${d.summary}`,
      `  over: ${d.schemes.map((s) => `${s}://`).join(' ')}`,
      `  has: ${features.join(', ')}`,
      `  content types: ${d.contentTypes.join(', ')}`,
      `  own flags and -O options: ${d.flags.length > 0 ? d.flags.join(', ') : 'none'}`,
      `  decode: ${d.capture ? 'yes (sniffed)' : 'no'}; bench fast path: ${d.template ? 'yes' : 'no (through the session)'}`,
    ]
    if (d.statuses && d.statuses.length > 0) lines.push(`  statuses: ${d.statuses.map((s) => `${s.wire} ${s.name} -> ${s.status}`).join(', ')}`)
    return lines.join('\n')
  })
  return `${blocks.join('\n\n')}\n`
}
