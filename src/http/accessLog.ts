/**
 * The access log: one event per finished response, in Combined Log Format
 * (Apache's `combined`, which Twisted's `combinedLogFormatter` also writes).
 *
 * @module
 */
import { Logger } from '../logger/index.js';

/** The parts of one access-log line. */
export interface AccessLogEntry {
  /** The client's address (`%h`). */
  readonly remoteAddr: string;
  /** The authenticated user (`%u`), `-` when none. */
  readonly user: string;
  /** When the request arrived, in epoch seconds of the server's clock. */
  readonly time: number;
  /** `[10/Oct/2000:13:55:36 +0000]` (`%t`, always UTC). */
  readonly timestamp: string;
  /** The method. */
  readonly method: string;
  /** The request target as received. */
  readonly uri: string;
  /** `HTTP/1.1` or `HTTP/1.0`. */
  readonly protocol: string;
  /** The response status (`%>s`). */
  readonly status: number;
  /** Body bytes sent (`%b`; 0 is written `-`). */
  readonly bytes: number;
  /** The Referer field, `-` when absent. */
  readonly referer: string;
  /** The User-Agent field, `-` when absent. */
  readonly userAgent: string;
  /** Seconds from the request head to the end of the response. */
  readonly duration: number;
}

/**
 * Where access-log entries go:
 * - `true`: a `Logger` in namespace `spindle.http.access` (level `info`);
 * - a `Logger` of your own (same events);
 * - a function receiving each entry (no log event at all);
 * - `false`/`undefined`: no access log (the default: it costs an event per request).
 */
export type AccessLogOption = boolean | Logger | ((entry: AccessLogEntry) => void);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** The CLF timestamp of a time: `[10/Oct/2000:13:55:36 +0000]` (UTC). */
export function clfTimestamp(epochSeconds: number): string {
  const d = new Date(Math.floor(epochSeconds) * 1000);
  return (
    `[${pad2(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} +0000]`
  );
}

/**
 * Escape a value for a quoted CLF field: `"` and `\` are backslash-escaped
 * and control or non-ASCII characters become `\xHH`, so a client cannot
 * forge a log line (Apache does the same).
 */
export function escapeLogValue(value: string): string {
  if (!/["\\\x00-\x1f\x7f-\uffff]/.test(value)) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += `\\${value[i]}`;
    else if (c < 0x20 || c >= 0x7f) out += c > 0xff ? `\\u${c.toString(16).padStart(4, '0')}` : `\\x${c.toString(16).padStart(2, '0')}`;
    else out += value[i];
  }
  return out;
}

/**
 * One line in Combined Log Format:
 * `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`.
 *
 * @example
 * ```ts
 * formatCombinedLogLine(entry);
 * // '127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a.gif HTTP/1.1" 200 2326 "http://x/" "curl/8.0"'
 * ```
 */
export function formatCombinedLogLine(entry: AccessLogEntry): string {
  const request = escapeLogValue(`${entry.method} ${entry.uri} ${entry.protocol}`);
  return (
    `${entry.remoteAddr} - ${entry.user} ${entry.timestamp} "${request}" ${entry.status} ` +
    `${entry.bytes === 0 ? '-' : entry.bytes} "${escapeLogValue(entry.referer)}" "${escapeLogValue(entry.userAgent)}"`
  );
}

/** The logger behind `accessLog: true`. */
export const ACCESS_LOG_NAMESPACE = 'spindle.http.access';

/**
 * Turns an {@link AccessLogOption} into the function a factory calls per
 * response, or null when access logging is off.
 *
 * With a Logger, each entry is an `info` event whose format is the CLF line
 * itself (braces escaped, so it renders verbatim) and whose fields are the
 * entry's parts plus `line`.
 */
export function accessLogSink(option: AccessLogOption | undefined): ((entry: AccessLogEntry) => void) | null {
  if (option === undefined || option === false) return null;
  if (typeof option === 'function') return option;
  const logger = option === true ? new Logger(ACCESS_LOG_NAMESPACE) : option;
  return (entry) => {
    const line = formatCombinedLogLine(entry);
    logger.info(line.replace(/[{}]/g, (b) => b + b), { ...entry, line });
  };
}
