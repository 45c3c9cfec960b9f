/**
 * Internal helpers shared by the formatter, the failure renderer and the JSON encoder: one
 * `util.inspect` configuration, and reads that cannot throw. Not part of the public API.
 */
import { inspect, types } from 'node:util';

/** The one inspect configuration of the logger: depth 2, on a single line. */
export const INSPECT_OPTIONS = Object.freeze({ depth: 2, breakLength: Infinity });

/** `util.inspect` with {@link INSPECT_OPTIONS}; may throw (a custom inspect hook, a Proxy). */
export function inspectValue(value: unknown): string {
  return inspect(value, INSPECT_OPTIONS);
}

/** {@link inspectValue} that never throws. */
export function safeInspect(value: unknown): string {
  return safely(() => inspectValue(value), '<uninspectable value>');
}

/** True for `Error` instances, including those from another realm (`vm`, workers). */
export function isError(value: unknown): value is Error {
  return value instanceof Error || types.isNativeError(value);
}

/** Runs `read`, returning `fallback` if it throws. */
export function safely<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** A one-line description of why something failed (`Name: message`); never throws. */
export function describeThrown(thrown: unknown): string {
  if (isError(thrown)) {
    return safely(() => `${String(thrown.name)}: ${String(thrown.message)}`, '<unprintable error>');
  }
  return safeInspect(thrown);
}
