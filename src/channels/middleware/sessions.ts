/**
 * Signed-cookie sessions: `sessionMiddleware` gives every HTTP and WebSocket scope a
 * `scope.session` whose data lives in a pluggable {@link SessionStore} (in memory by default) and
 * whose id travels in a cookie signed with HMAC-SHA256.
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { fail, maybeDeferred, succeed, type Deferred, type MaybeDeferred } from '../../defer/deferred.js';
import { getDefaultClock, type IReactorTime } from '../../defer/clock.js';
// Registers the global reactor as the default clock, for stores made without one.
import '../../reactor/default.js';
import type { ASGIApplication, ASGIEvent, Receive, Scope, ScopeSession, Send } from '../types.js';
import { cookiesOf, deleteCookie, setCookie, type CookieOptions } from './cookies.js';

/** What a session holds: names → values that survive `structuredClone` (JSON-like for most stores). */
export type SessionData = Record<string, unknown>;

/**
 * Where sessions live. Methods may answer at once or later (a Deferred or a Promise); a failure
 * fails the request (`get`, before the application runs) or the response start (`set`/`delete`).
 * A store must keep its own copy of the data it is given.
 */
export interface SessionStore {
  /** The data stored under `key`, or undefined when absent or expired. */
  get(key: string): MaybeDeferred<SessionData | undefined>;
  /** Store `data` under `key` for `maxAge` seconds (replacing what was there). */
  set(key: string, data: SessionData, maxAge: number): MaybeDeferred<void>;
  /** Forget `key` (absent keys are fine). */
  delete(key: string): MaybeDeferred<void>;
}

/** Options of {@link MemorySessionStore}. */
export interface MemorySessionStoreOptions {
  /** Where time comes from (a `Clock` in tests). Default: the global reactor. */
  reactor?: IReactorTime;
  /** Sessions kept at most; writing one more drops the least recently written. Default 10,000. */
  maxEntries?: number;
}

/**
 * A {@link SessionStore} in this process's memory: bounded, with expiry on the reactor's clock,
 * copying data in and out (`structuredClone`). Sessions die with the process.
 */
export class MemorySessionStore implements SessionStore {
  private readonly entries = new Map<string, { data: SessionData; expiresAt: number }>();
  private readonly maxEntries: number;
  private clockInstance: IReactorTime | null;

  /** @throws RangeError when `maxEntries` is not a positive integer. */
  constructor(options: MemorySessionStoreOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer, not ${String(options.maxEntries)}`);
    }
    this.clockInstance = options.reactor ?? null;
  }

  /** Sessions held (expired ones included until they are looked up or pushed out). */
  get size(): number {
    return this.entries.size;
  }

  get(key: string): Deferred<SessionData | undefined> {
    const entry = this.entries.get(key);
    if (entry === undefined) return succeed<SessionData | undefined>(undefined);
    if (this.clock.seconds() >= entry.expiresAt) {
      this.entries.delete(key);
      return succeed<SessionData | undefined>(undefined);
    }
    return succeed<SessionData | undefined>(structuredClone(entry.data));
  }

  /** @throws TypeError (as a failed Deferred) when the data cannot be copied. */
  set(key: string, data: SessionData, maxAge: number): Deferred<void> {
    let copy: SessionData;
    try {
      copy = structuredClone(data);
    } catch (e) {
      return fail(new TypeError(`session data must be copyable with structuredClone: ${(e as Error).message}`));
    }
    this.entries.delete(key); // re-inserted last: the Map's order is the order of writes
    this.entries.set(key, { data: copy, expiresAt: this.clock.seconds() + maxAge });
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return succeed<void>(undefined);
  }

  delete(key: string): Deferred<void> {
    this.entries.delete(key);
    return succeed<void>(undefined);
  }

  private get clock(): IReactorTime {
    return (this.clockInstance ??= getDefaultClock());
  }
}

/** A secret for signing: at least 16 bytes (32 random bytes recommended). */
export type SessionSecret = string | Uint8Array;

/** Options of {@link sessionMiddleware}. */
export interface SessionMiddlewareOptions {
  /**
   * The signing key, or several to rotate keys: the first signs, all verify.
   * Each must be at least 16 bytes; use 32 random bytes.
   */
  secret: SessionSecret | readonly SessionSecret[];
  /** The cookie's name. Default `sessionid` (Django's). */
  cookieName?: string;
  /** Where sessions live. Default: a new {@link MemorySessionStore} on `reactor`. */
  store?: SessionStore;
  /** Seconds a session lives (cookie `Max-Age` and store expiry). Default 1,209,600 (two weeks). */
  maxAge?: number;
  /** Cookie attributes. Default `{ path: '/', httpOnly: true, sameSite: 'Lax' }`. */
  cookie?: Omit<CookieOptions, 'maxAge' | 'expires'>;
  /** Save (and re-send the cookie) on every response, not only when the session changed. */
  saveEveryRequest?: boolean;
  /** The clock of the default store. */
  reactor?: IReactorTime;
}

const KEY = /^[A-Za-z0-9_-]{16,128}$/;

class Signer {
  private readonly keys: Buffer[];

  constructor(secret: SessionMiddlewareOptions['secret']) {
    const list = (Array.isArray(secret) ? secret : [secret]) as SessionSecret[];
    if (list.length === 0) throw new TypeError('sessionMiddleware needs a secret');
    this.keys = list.map((s) => {
      if (typeof s !== 'string' && !(s instanceof Uint8Array)) throw new TypeError('a session secret must be a string or bytes');
      const b = Buffer.from(s);
      if (b.length < 16) throw new TypeError('a session secret must be at least 16 bytes (use 32 random bytes)');
      return b;
    });
  }

  private mac(secret: Buffer, key: string): string {
    // Salted, so the same secret used elsewhere never yields a valid session cookie.
    return createHmac('sha256', secret).update(`spindle.session:${key}`).digest('base64url');
  }

  sign(key: string): string {
    return `${key}.${this.mac(this.keys[0]!, key)}`;
  }

  /** The session id in a cookie value, or null when it is malformed or its signature is wrong. */
  unsign(value: string): string | null {
    const dot = value.lastIndexOf('.');
    if (dot === -1) return null;
    const key = value.slice(0, dot);
    if (!KEY.test(key)) return null;
    const given = Buffer.from(value.slice(dot + 1));
    let ok = false;
    for (const secret of this.keys) {
      const expected = Buffer.from(this.mac(secret, key));
      // Compare the encoded forms: base64 decoding is lenient and would accept variants.
      if (given.length === expected.length && timingSafeEqual(given, expected)) ok = true;
    }
    return ok ? key : null;
  }
}

type CookieAction = 'set' | 'delete' | null;

/** The `scope.session` of one connection. */
class Session implements ScopeSession {
  private data: Map<string, unknown>;
  private _key: string | null;
  private _modified = false;
  /** Keys to delete from the store on the next save (after `clear` or `cycleKey`). */
  private stale: string[] = [];
  /** save() wrote the session: the cookie must be (re)sent. */
  private saved = false;

  constructor(
    private readonly store: SessionStore,
    private readonly maxAge: number,
    key: string | null,
    data: SessionData,
    /** The request came with a session cookie (so an emptied session deletes it). */
    private readonly hadCookie: boolean,
  ) {
    this._key = key;
    this.data = new Map(Object.entries(data));
  }

  get key(): string | null {
    return this._key;
  }

  get modified(): boolean {
    return this._modified;
  }

  get(name: string): unknown {
    return this.data.get(name);
  }

  set(name: string, value: unknown): void {
    this.data.set(name, value);
    this._modified = true;
  }

  delete(name: string): void {
    if (this.data.delete(name)) this._modified = true;
  }

  has(name: string): boolean {
    return this.data.has(name);
  }

  keys(): string[] {
    return [...this.data.keys()];
  }

  clear(): void {
    this.data.clear();
    this.cycleKey();
  }

  cycleKey(): void {
    if (this._key !== null) this.stale.push(this._key);
    this._key = null;
    this._modified = true;
  }

  save(): Deferred<void> {
    const key = (this._key ??= randomBytes(24).toString('base64url'));
    const snapshot = Object.fromEntries(this.data);
    const stale = this.stale.splice(0);
    return this.dropKeys(stale)
      .addCallback(() => maybeDeferred(() => this.store.set(key, snapshot, this.maxAge)))
      .addCallback(() => {
        this._modified = false;
        this.saved = true;
      });
  }

  /**
   * At the response start: save what changed (or everything with `saveEveryRequest`) and say
   * which cookie to send. An emptied session is deleted, and so is its cookie.
   */
  finish(saveEveryRequest: boolean): Deferred<CookieAction> {
    const changed = this._modified || (saveEveryRequest && (this.data.size > 0 || this._key !== null));
    if (!changed) return succeed<CookieAction>(this.saved ? 'set' : null);
    if (this.data.size === 0) {
      const gone = this.stale.splice(0);
      if (this._key !== null) gone.push(this._key);
      this._key = null;
      this._modified = false;
      this.saved = false;
      return this.dropKeys(gone).addCallback((): CookieAction => (this.hadCookie ? 'delete' : null));
    }
    return this.save().addCallback((): CookieAction => 'set');
  }

  private dropKeys(keys: string[]): Deferred<void> {
    let d = succeed<void>(undefined);
    for (const k of keys) d = d.addCallback(() => maybeDeferred(() => this.store.delete(k)));
    return d;
  }
}

/**
 * Sessions for HTTP and WebSocket scopes: `scope.session` (see {@link ScopeSession}) holds the
 * data of the session named by the signed cookie, loaded from the store before the application
 * runs (a bad signature or an unknown id gives an empty session). `scope.cookies` is set too.
 *
 * Changes are saved when the response starts: on the first `http.response.start` (unless its
 * status is 500) or `websocket.accept`, a modified session is saved and its cookie added to that
 * event's headers (an emptied one is deleted from the store, and its cookie deleted). After that
 * (a WebSocket's later life) call `scope.session.save()` yourself; the id is unchanged, so the
 * client's cookie still points at it. Other scope types pass through untouched.
 *
 * The cookie value is `<id>.<HMAC-SHA256(secret, id), base64url>`, compared in constant time.
 *
 * @throws TypeError for a missing or short secret, RangeError for a bad `maxAge`.
 *
 * @example
 * ```ts
 * const app = sessionMiddleware(async (scope, receive, send) => {
 *   const visits = ((scope.session!.get('visits') as number | undefined) ?? 0) + 1;
 *   scope.session!.set('visits', visits);
 *   await send({ type: 'http.response.start', status: 200, headers: [] }); // saved + Set-Cookie
 *   await send({ type: 'http.response.body', body: new TextEncoder().encode(`visit ${visits}`) });
 * }, { secret: process.env.SESSION_SECRET! });
 * ```
 */
export function sessionMiddleware(app: ASGIApplication, options: SessionMiddlewareOptions): ASGIApplication {
  if (typeof app !== 'function') throw new TypeError('sessionMiddleware(app, options): app must be a function');
  if (options === null || typeof options !== 'object') throw new TypeError('sessionMiddleware needs options with a secret');
  const signer = new Signer(options.secret);
  const cookieName = options.cookieName ?? 'sessionid';
  const maxAge = options.maxAge ?? 1_209_600;
  if (!Number.isInteger(maxAge) || maxAge < 1) throw new RangeError(`maxAge must be a positive integer number of seconds, not ${String(maxAge)}`);
  const store = options.store ?? new MemorySessionStore({ reactor: options.reactor });
  const cookie: CookieOptions = { path: '/', httpOnly: true, sameSite: 'Lax', ...options.cookie };
  const saveEveryRequest = options.saveEveryRequest === true;
  // Checked once here, so a bad name fails at startup rather than on the first response.
  setCookie([], cookieName, 'x', cookie);

  return (scope: Scope, receive: Receive, send: Send): PromiseLike<void> => {
    if (scope.type !== 'http' && scope.type !== 'websocket') return app(scope, receive, send);
    const cookies = scope.cookies ?? cookiesOf(scope);
    const raw = cookies[cookieName];
    const key = raw === undefined ? null : signer.unsign(raw);
    const load = key === null ? succeed<SessionData | undefined>(undefined) : maybeDeferred(() => store.get(key));
    return load.addCallback((data) => {
      const session = new Session(store, maxAge, data === undefined ? null : key, data ?? {}, raw !== undefined);
      let started = false;
      const sessionSend: Send = (event: ASGIEvent) => {
        const starts = event.type === 'http.response.start' || event.type === 'websocket.accept';
        if (!starts || started) return send(event);
        started = true;
        if (event.type === 'http.response.start' && event.status === 500) return send(event);
        return session.finish(saveEveryRequest).addCallback((action) => {
          if (action === null) return send(event);
          const headers = Array.isArray(event.headers) ? [...(event.headers as [string, string][])] : [];
          if (action === 'set') setCookie(headers, cookieName, signer.sign(session.key!), { ...cookie, maxAge });
          else deleteCookie(headers, cookieName, { path: cookie.path, domain: cookie.domain, sameSite: cookie.sameSite });
          return send({ ...event, headers });
        });
      };
      return app({ ...scope, cookies, session }, receive, sessionSend);
    });
  };
}
