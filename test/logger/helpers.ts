// Shared fixtures for the logger tests: fixed-time events and a fake text stream.
import type { LogEvent } from '../../src/logger/index.js';

/** 2026-11-21T11:22:33.123Z, in seconds. */
export const T = Date.UTC(2026, 10, 21, 11, 22, 33, 123) / 1000;
export const T_TEXT = '2026-11-21T11:22:33.123Z';

/** A complete event at time {@link T}, namespace `test`, level `info`, overridden by `fields`. */
export function makeEvent(fields: Record<string, unknown> = {}): LogEvent {
  return {
    log_namespace: 'test',
    log_level: 'info',
    log_format: '',
    log_time: T,
    ...fields,
  };
}

/** A stream that records what is written to it. */
export function fakeStream(): { chunks: string[]; write(chunk: string): boolean } {
  const chunks: string[] = [];
  return {
    chunks,
    write(chunk: string): boolean {
      chunks.push(chunk);
      return true;
    },
  };
}

/** An Error with a fixed, short stack, so tracebacks can be compared exactly. */
export function fixedError(message: string, stackLines: string[] = [], options?: ErrorOptions): Error {
  const error = new Error(message, options);
  error.stack = [`Error: ${message}`, ...stackLines.map((line) => `    at ${line}`)].join('\n');
  return error;
}
