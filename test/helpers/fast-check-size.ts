import fc from 'fast-check'

/**
 * fast-check's default size ('small') keeps generated arrays and strings to about ten items
 * whatever their maxLength says: a property over "payloads up to 3000 bytes" saw 10-byte ones,
 * and the fragmentation property never split a message. 'medium' (about a hundred) for every
 * property; where lengths must reach their bounds an arbitrary says `size: 'max'` itself.
 * ('max' everywhere runs nested arbitraries such as fc.jsonValue out of memory.)
 */
fc.configureGlobal({ baseSize: 'medium' })
