/**
 * The `Date` header value, formatted at most once per second of the
 * reactor's clock.
 *
 * @module
 */
import type { IReactorTime } from '../defer/clock.js';

/**
 * The IMF-fixdate form of a time (RFC 9110 §5.6.7), e.g.
 * `Sun, 06 Nov 1994 08:49:37 GMT`.
 *
 * @param epochSeconds - seconds since 1970-01-01T00:00:00Z (fractions are dropped).
 * @throws RangeError when the time is not a finite number.
 */
export function httpDate(epochSeconds: number): string {
  if (!Number.isFinite(epochSeconds)) throw new RangeError(`not a time: ${String(epochSeconds)}`);
  // toUTCString() is specified (ES2018) to produce exactly this format for four-digit years.
  return new Date(Math.floor(epochSeconds) * 1000).toUTCString();
}

const MONTHS: Readonly<Record<string, number>> = {
  Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11,
};
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC850_DATE = /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * Parse an HTTP-date (RFC 9110 §5.6.7) — the IMF-fixdate form, or the
 * obsolete RFC 850 and asctime forms a recipient must also accept — into
 * seconds since the epoch. A two-digit RFC 850 year is placed in the
 * century that puts it at most 50 years after the year of `nowSeconds`
 * (the RFC's rule); without `nowSeconds`, 70–99 are 19xx and 00–69 20xx.
 *
 * @returns the time in whole seconds, or null for anything else (the
 *   caller then ignores the field, as the RFC asks for an invalid date).
 *
 * @example
 * ```ts
 * parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'); // 784111777
 * parseHttpDate('yesterday');                     // null
 * ```
 */
export function parseHttpDate(value: string, nowSeconds?: number): number | null {
  // [day, month name, year, hours, minutes, seconds]
  let f: [string, string, number, string, string, string];
  let m = IMF_FIXDATE.exec(value);
  if (m !== null) {
    f = [m[1]!, m[2]!, Number(m[3]), m[4]!, m[5]!, m[6]!];
  } else if ((m = RFC850_DATE.exec(value)) !== null) {
    const yy = Number(m[3]);
    let year: number;
    if (nowSeconds === undefined) year = yy < 70 ? 2000 + yy : 1900 + yy;
    else {
      const now = new Date(nowSeconds * 1000).getUTCFullYear();
      year = Math.floor(now / 100) * 100 + yy;
      if (year > now + 50) year -= 100;
    }
    f = [m[1]!, m[2]!, year, m[4]!, m[5]!, m[6]!];
  } else if ((m = ASCTIME_DATE.exec(value)) !== null) {
    f = [m[2]!.trim(), m[1]!, Number(m[6]), m[3]!, m[4]!, m[5]!];
  } else {
    return null;
  }
  const month = MONTHS[f[1]];
  const day = Number(f[0]);
  const hours = Number(f[3]);
  const minutes = Number(f[4]);
  const secs = Number(f[5]);
  // 60 for a leap second, as IMF allows; Date.UTC folds it into the next minute.
  if (month === undefined || day < 1 || day > 31 || hours > 23 || minutes > 59 || secs > 60) return null;
  const ms = Date.UTC(f[2], month, day, hours, minutes, secs);
  // A day the month does not have (Feb 30) would roll over into the next month.
  if (new Date(Date.UTC(f[2], month, day)).getUTCDate() !== day) return null;
  return ms / 1000;
}

/**
 * A cached `Date` header for responses: formatted once per whole second of
 * `clock.seconds()` (the reactor's clock, or a test `Clock`), so a server
 * answering thousands of requests a second formats it once.
 *
 * The clock must count seconds since the epoch for the value to be a real
 * date (the Node reactor does); a test `Clock` starting at 0 gives
 * `Thu, 01 Jan 1970 00:00:00 GMT`.
 *
 * @example
 * ```ts
 * const dates = new DateCache(reactor);
 * headers.push(dates.field());   // ['Date', 'Tue, 15 Nov 1994 08:12:31 GMT']
 * ```
 */
export class DateCache {
  private _second = NaN;
  private _value = '';
  private _line = '';
  private _field: readonly [string, string] = ['Date', ''];

  /** @param clock - where the time comes from (the reactor, or a test `Clock`). */
  constructor(private readonly clock: IReactorTime) {}

  /** The current value, e.g. `Tue, 15 Nov 1994 08:12:31 GMT`. */
  value(): string {
    this._at(this.clock.seconds());
    return this._value;
  }

  /** The `['Date', value]` pair, shared until the second changes (do not modify it). */
  field(): readonly [string, string] {
    this._at(this.clock.seconds());
    return this._field;
  }

  /**
   * The `['Date', value]` pair for clock time `seconds`, which the caller
   * has just read from the clock (a server reads it once per batch of
   * requests, not once per response).
   */
  fieldAt(seconds: number): readonly [string, string] {
    this._at(seconds);
    return this._field;
  }

  /** The whole field line, `Date: <value>\r\n`, for clock time `seconds` (see {@link fieldAt}). */
  lineAt(seconds: number): string {
    this._at(seconds);
    return this._line;
  }

  private _at(seconds: number): void {
    const s = Math.floor(seconds);
    if (s === this._second) return;
    this._second = s;
    this._value = httpDate(s);
    this._line = `Date: ${this._value}\r\n`;
    this._field = Object.freeze(['Date', this._value] as const);
  }
}
