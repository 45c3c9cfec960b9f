/**
 * Spindle's core: Deferreds, the reactor (time, TCP, UNIX, TLS, UDP, processes, threads),
 * endpoints, and protocols and factories.
 * @module
 */
export * from './defer/index.js';
export * from './reactor/index.js';
export * from './protocol/index.js';
