/**
 * Spindle's core: Deferreds, the reactor, protocols and factories.
 * @module
 */
export * from './defer/index.js';
