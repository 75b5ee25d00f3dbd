export * from './address.js'
export * from './transport.js'
export * from './net.js'
