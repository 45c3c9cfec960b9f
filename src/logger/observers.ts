/**
 * Observers that write events to a text stream: human-readable lines, or JSON lines.
 */
import type { LogObserver } from './event.js';
import { eventAsText, type EventAsTextOptions } from './format.js';
import { eventAsJSON } from './json.js';

/**
 * Where file observers write: anything with a `write(string)` method (`process.stderr`, an
 * `fs.WriteStream`, or an array-backed fake in tests). Its return value is ignored; flow
 * control is the stream's business.
 */
export interface LogTextStream {
  /** Writes one chunk of text (one whole entry per call). */
  write(chunk: string): unknown;
}

/**
 * An observer writing each event as {@link eventAsText} renders it (with `options`), plus
 * `"\n"`, in a single `write` call per event.
 */
export function textFileLogObserver(
  stream: LogTextStream,
  options: EventAsTextOptions = {},
): LogObserver {
  const textOptions: EventAsTextOptions = { ...options };
  return (event) => {
    stream.write(`${eventAsText(event, textOptions)}\n`);
  };
}

/**
 * An observer writing each event as one line of JSON ({@link eventAsJSON}) plus `"\n"`, in a
 * single `write` call per event. Read the result back with `eventsFromJSONLogFile`.
 */
export function jsonFileLogObserver(stream: LogTextStream): LogObserver {
  return (event) => {
    stream.write(`${eventAsJSON(event)}\n`);
  };
}
