export const VERSION = '0.1.0'

/**
 * The library surface other packages build on (packages/artillery-engine-stmp): the same client
 * Session, dialect registry, address syntax, flag values and payload codecs as the commands use.
 */
export { connect, clientSetup, type ClientFlagValues, type ClientSetup, type ConnectOptions, type Session, type ResponseInfo, type IncomingPush, type CloseInfo } from './session/index.js'
export { dialectNames, loadDialect, DEFAULT_DIALECT } from './dialects/registry.js'
export type { Dialect } from './dialects/types.js'
export { parseAddress, formatAddress, type Address } from './transport/index.js'
export { CONTENT_TYPES, codecName, decodePayload, getPayloadCodec, type PayloadCodec } from './payload/index.js'
export { parseDuration, parseTimeout } from './flag-values.js'
export { StmpError, isStmpError } from './errors.js'
