/**
 * Recording events in memory, for tests.
 */
import type { LogEvent } from './event.js';
import { globalLogPublisher } from './global.js';
import type { LogPublisher } from './publisher.js';

/** A running capture: see {@link captureEvents}. */
export interface EventCapture {
  /** Every event published since the capture began, in order (a live array). */
  readonly events: LogEvent[];
  /** Stops recording (idempotent); `events` keeps what was recorded. */
  stop(): void;
}

/**
 * Records every event published on `publisher` (all levels, unfiltered) until `stop()`.
 * The publisher's other observers still receive the events.
 *
 * @example
 * const capture = captureEvents();
 * try {
 *   doSomethingThatLogs();
 * } finally {
 *   capture.stop();
 * }
 * expect(capture.events.map(formatEvent)).toContain('connection lost');
 */
export function captureEvents(publisher: LogPublisher = globalLogPublisher): EventCapture {
  const events: LogEvent[] = [];
  const observer = (event: LogEvent): void => {
    events.push(event);
  };
  publisher.addObserver(observer);
  return {
    events,
    stop: () => publisher.removeObserver(observer),
  };
}
