/**
 * Static files: {@link File}, a resource serving one file or a directory
 * tree (Twisted's `twisted.web.static.File`), with MIME types, validators
 * and 304s, byte ranges (206, multipart/byteranges, 416), and bodies
 * streamed from disk through a push producer so a large file never sits in
 * memory and a slow client slows the reads down.
 *
 * @module
 */
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, extname, join, resolve, sep } from 'node:path';
import type { Deferred } from '../defer/deferred.js';
import { ensureDeferred } from '../defer/inline.js';
import type { IPushProducer } from '../reactor/interfaces.js';
import { httpDate, parseHttpDate } from './date.js';
import { HttpError, escapeHtml, type Request } from './request.js';
import { NOT_DONE_YET, Resource, type RenderResult } from './site.js';

// ---------------------------------------------------------------- MIME types

const UTF8 = '; charset=utf-8';

/**
 * The built-in Content-Type of each extension (lower case, without the
 * dot). `text/*` types carry `; charset=utf-8`: a text file served without
 * a charset is decoded by browsers with a guess.
 */
export const MIME_TYPES: Readonly<Record<string, string>> = Object.freeze({
  html: `text/html${UTF8}`,
  htm: `text/html${UTF8}`,
  css: `text/css${UTF8}`,
  js: `text/javascript${UTF8}`,
  mjs: `text/javascript${UTF8}`,
  cjs: `text/javascript${UTF8}`,
  txt: `text/plain${UTF8}`,
  text: `text/plain${UTF8}`,
  log: `text/plain${UTF8}`,
  md: `text/markdown${UTF8}`,
  csv: `text/csv${UTF8}`,
  tsv: `text/tab-separated-values${UTF8}`,
  ics: `text/calendar${UTF8}`,
  vtt: `text/vtt${UTF8}`,
  json: 'application/json',
  map: 'application/json',
  jsonld: 'application/ld+json',
  webmanifest: 'application/manifest+json',
  xml: 'application/xml',
  xhtml: 'application/xhtml+xml',
  rss: 'application/rss+xml',
  atom: 'application/atom+xml',
  yaml: 'application/yaml',
  yml: 'application/yaml',
  toml: 'application/toml',
  wasm: 'application/wasm',
  pdf: 'application/pdf',
  zip: 'application/zip',
  gz: 'application/gzip',
  tgz: 'application/gzip',
  tar: 'application/x-tar',
  bz2: 'application/x-bzip2',
  xz: 'application/x-xz',
  zst: 'application/zstd',
  '7z': 'application/x-7z-compressed',
  epub: 'application/epub+zip',
  bin: 'application/octet-stream',
  svg: 'image/svg+xml',
  png: 'image/png',
  apng: 'image/apng',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  ico: 'image/vnd.microsoft.icon',
  bmp: 'image/bmp',
  tif: 'image/tiff',
  tiff: 'image/tiff',
  woff: 'font/woff',
  woff2: 'font/woff2',
  ttf: 'font/ttf',
  otf: 'font/otf',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  oga: 'audio/ogg',
  opus: 'audio/opus',
  wav: 'audio/wav',
  flac: 'audio/flac',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  weba: 'audio/webm',
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  webm: 'video/webm',
  ogv: 'video/ogg',
  mov: 'video/quicktime',
  mkv: 'video/x-matroska',
  avi: 'video/x-msvideo',
});

// ---------------------------------------------------------------- ranges

/** One satisfiable byte range: `start` to `end`, both inclusive (as in `Content-Range`). */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

const RANGE_SPEC = /^(\d*)[ \t]*-[ \t]*(\d*)$/;

/** Digits → number; more than 15 digits is past any file we can serve. */
function position(digits: string): number {
  return digits.length > 15 ? Number.MAX_SAFE_INTEGER : Number(digits);
}

/**
 * Parse a `Range` field value (RFC 9110 §14.1.2) against a representation
 * of `size` bytes.
 *
 * @returns `null` when the field must be ignored — another unit than
 *   `bytes`, or a syntax error anywhere (`bytes=5-4`, `bytes=-`,
 *   `bytes=x-`): the whole representation is sent, as Twisted does; else
 *   the satisfiable ranges in the order asked (ends clamped to the last
 *   byte, a suffix `-n` made absolute), which is empty when none is
 *   satisfiable (416). Whitespace around the parts and empty list elements
 *   are tolerated.
 *
 * @example
 * ```ts
 * parseByteRanges('bytes=0-99', 1000);      // [{ start: 0, end: 99 }]
 * parseByteRanges('bytes=-100', 1000);      // [{ start: 900, end: 999 }]
 * parseByteRanges('bytes=1000-', 1000);     // [] → 416
 * parseByteRanges('lines=1-2', 1000);       // null → ignore the field
 * ```
 */
export function parseByteRanges(value: string, size: number): ByteRange[] | null {
  const eq = value.indexOf('=');
  if (eq === -1 || value.slice(0, eq).trim().toLowerCase() !== 'bytes') return null;
  const out: ByteRange[] = [];
  let specs = 0;
  for (const element of value.slice(eq + 1).split(',')) {
    const spec = element.trim();
    if (spec === '') continue;
    const m = RANGE_SPEC.exec(spec);
    if (m === null) return null;
    const first = m[1]!;
    const last = m[2]!;
    specs++;
    if (first === '') {
      if (last === '') return null;
      const suffix = position(last);
      if (suffix > 0 && size > 0) out.push({ start: Math.max(0, size - suffix), end: size - 1 });
      continue;
    }
    const start = position(first);
    const end = last === '' ? Number.MAX_SAFE_INTEGER : position(last);
    if (end < start) return null;
    if (start < size) out.push({ start, end: Math.min(end, size - 1) });
  }
  return specs === 0 ? null : out;
}

// ---------------------------------------------------------------- validators

/** Whether `list` (an If-None-Match value) names `etag`, weak comparison (RFC 9110 §8.8.3.2). */
function etagListMatches(list: string, etag: string): boolean {
  const v = list.trim();
  if (v === '*') return true;
  const ours = opaqueTag(etag);
  let p = 0;
  while (p < v.length) {
    const c = v.charCodeAt(p);
    if (c === 0x20 || c === 0x09 || c === 0x2c) {
      p++;
      continue;
    }
    if (v.startsWith('W/', p)) p += 2;
    if (v.charCodeAt(p) !== 0x22) return false; // malformed: stop at what was understood
    const close = v.indexOf('"', p + 1);
    if (close === -1) return false;
    if (v.slice(p, close + 1) === ours) return true;
    p = close + 1;
  }
  return false;
}

/**
 * Whether an If-Match value passes for a file whose entity tag is weak, as
 * every tag {@link File} makes is: If-Match uses the strong comparison
 * (RFC 9110 §13.1.1), which a weak tag never passes, so only `*` (any
 * current representation) does.
 */
function ifMatchPassesWeakTag(value: string): boolean {
  return value.trim() === '*';
}

/** The quoted part of an entity tag (`"x"` of `W/"x"`). */
function opaqueTag(etag: string): string {
  return etag.startsWith('W/') ? etag.slice(2) : etag;
}

// ---------------------------------------------------------------- the resource

/** Options of a {@link File} resource. Every one has a default. */
export interface FileOptions {
  /** Content-Type of names neither table knows. Default `application/octet-stream`. */
  defaultType?: string;
  /** Files that answer for a directory URL (one ending in `/`), the first found wins. Default `['index.html']`. */
  indexNames?: readonly string[];
  /** List a directory that has no index file (else 403). Default false. */
  allowDirectoryListing?: boolean;
  /**
   * Extra or overriding Content-Types by extension (`'.md'` or `'md'`, any
   * case), sent exactly as given (add the charset yourself).
   */
  mimeTypes?: Readonly<Record<string, string>>;
  /** Serve files reached through symbolic links that lead outside the root (else 403). Default false. */
  followSymlinks?: boolean;
  /** Bytes read from disk per chunk (and written per `request.write`). Default 64 KiB. */
  chunkSize?: number;
  /**
   * Most ranges answered in one multipart response. More — or ranges
   * adding up to more than the file, i.e. overlapping ones — get the whole
   * file with a 200, so a client cannot make one small file cost many times
   * its size (CVE-2011-3192, "Apache Killer"). Default 16.
   */
  maxRanges?: number;
}

/** What is served: an open file (or directory), its stats, its real path and the name its type comes from. */
interface Opened {
  readonly handle: FileHandle;
  readonly stats: Stats;
  readonly real: string;
  readonly name: string;
}

// O_NONBLOCK: opening a FIFO put in place of a file must not block a libuv thread forever;
// O_NOFOLLOW: the real path was checked, a symlink swapped in since is refused.
const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0) | (fsConstants.O_NOFOLLOW ?? 0);

/** A segment that could leave the directory, or name something else than a child, is refused. */
function safeSegment(segment: string): boolean {
  return (
    segment !== '.' &&
    segment !== '..' &&
    segment.indexOf('/') === -1 &&
    segment.indexOf('\\') === -1 &&
    segment.indexOf('\0') === -1
  );
}

/** The HTTP answer for a file system error; anything unexpected is rethrown (a logged 500). */
function fsError(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ELOOP':
    case 'ENAMETOOLONG':
      return new HttpError(404);
    case 'EACCES':
    case 'EPERM':
      return new HttpError(403);
    default:
      return err;
  }
}

function closeQuietly(handle: FileHandle): void {
  handle.close().catch(() => undefined);
}

function formatSize(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['K', 'M', 'G', 'T'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Math.floor(v)}${units[u]}`;
}

/**
 * Serves a file, or a directory tree, from disk (Twisted's `static.File`).
 *
 * Mount it anywhere in a resource tree; it is a leaf, and the rest of the
 * path (`request.postpath`) names the file below its root:
 *
 * - **Paths**: each segment is percent-decoded first; `.`, `..`, segments
 *   with `/`, `\` or NUL (so `%2e%2e`, `%2F`, `..%5C` too) and empty
 *   segments inside the path answer 404. The real path (symlinks resolved)
 *   must stay under the root's real path, else 403, unless
 *   `followSymlinks`. Unreadable files answer 403; missing ones 404;
 *   anything that is neither a regular file nor a directory 404.
 * - **Directories**: a URL without its trailing slash is redirected (302)
 *   to the one with it; then the first of `indexNames` that exists is
 *   served, else a listing (`allowDirectoryListing`) or 403.
 * - **Fields**: `Content-Type` from the extension ({@link MIME_TYPES}, the
 *   `mimeTypes` option, else `defaultType`), `Content-Length`, a weak
 *   `ETag` made of the size and modification time, `Last-Modified`,
 *   `Accept-Ranges: bytes`.
 * - **Conditional requests**, in RFC 9110 §13.2.2's order: `If-Match`
 *   (strong comparison, so only `*` passes our weak tag) or else
 *   `If-Unmodified-Since` failing answers 412; then `If-None-Match` (weak
 *   comparison, `*`) or else `If-Modified-Since` answer 304 without a body.
 * - **Ranges** (GET): `bytes=a-b`, `a-`, `-n` → 206 with `Content-Range`;
 *   several → 206 `multipart/byteranges`; none satisfiable → 416 with
 *   `Content-Range: bytes *\/size`; a malformed field is ignored (200). An
 *   `If-Range` that does not match (an entity tag — ours is weak, so never
 *   — or a date other than `Last-Modified`) means the whole file.
 * - **HEAD** answers the fields of GET and opens no stream; other methods
 *   get 405 with `Allow: GET, HEAD`.
 * - **Streaming**: the body is read `chunkSize` bytes at a time with
 *   asynchronous reads by a push producer registered on the request: while
 *   the connection's buffer is full no read is made, and a client that
 *   disconnects stops the reads and closes the file. A file that shrinks
 *   while it is sent aborts the connection (the client must not take the
 *   short body for the whole); one that grows is sent at its size when
 *   opened.
 *
 * @example
 * ```ts
 * const root = new Resource();
 * root.putChild('static', new File('/srv/www', { allowDirectoryListing: true }));
 * reactor.listenTCP(8080, new Site(root), { interface: '127.0.0.1' });
 * // or a whole site of files:
 * reactor.listenTCP(8081, new Site(new File('./public')), { interface: '127.0.0.1' });
 * ```
 */
export class File extends Resource {
  override isLeaf = true;
  /** The root served, as an absolute path. */
  readonly path: string;
  /** See {@link FileOptions.defaultType}. */
  readonly defaultType: string;
  /** See {@link FileOptions.indexNames}. */
  readonly indexNames: readonly string[];
  /** See {@link FileOptions.allowDirectoryListing}. */
  readonly allowDirectoryListing: boolean;
  /** See {@link FileOptions.followSymlinks}. */
  readonly followSymlinks: boolean;
  /** See {@link FileOptions.chunkSize}. */
  readonly chunkSize: number;
  /** See {@link FileOptions.maxRanges}. */
  readonly maxRanges: number;
  private readonly _types: ReadonlyMap<string, string>;
  private _realRoot: Promise<string> | null = null;

  /**
   * @param path - a file or a directory (relative paths are resolved against the current directory now).
   * @param options - see {@link FileOptions}.
   * @throws TypeError for a chunk size or range limit that is not a positive integer.
   */
  constructor(path: string, options: FileOptions = {}) {
    super();
    this.path = resolve(path);
    this.defaultType = options.defaultType ?? 'application/octet-stream';
    this.indexNames = Object.freeze([...(options.indexNames ?? ['index.html'])]);
    this.allowDirectoryListing = options.allowDirectoryListing === true;
    this.followSymlinks = options.followSymlinks === true;
    this.chunkSize = options.chunkSize ?? 64 * 1024;
    this.maxRanges = options.maxRanges ?? 16;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1) throw new TypeError('chunkSize must be a positive integer');
    if (!Number.isInteger(this.maxRanges) || this.maxRanges < 1) throw new TypeError('maxRanges must be a positive integer');
    const types = new Map<string, string>();
    for (const [ext, type] of Object.entries(options.mimeTypes ?? {})) {
      types.set(ext.replace(/^\./, '').toLowerCase(), type);
    }
    this._types = types;
  }

  /** The Content-Type for a file `name`: the `mimeTypes` option, then {@link MIME_TYPES}, then `defaultType`. */
  contentType(name: string): string {
    const ext = extname(name).slice(1).toLowerCase();
    if (ext === '') return this.defaultType;
    return this._types.get(ext) ?? MIME_TYPES[ext] ?? this.defaultType;
  }

  /**
   * Serve the file named by `request.postpath` (HEAD comes here too). Fires
   * when the response is under way (the body may still be streaming); fails
   * with an {@link HttpError} (404, 403) that the site turns into the
   * answer, or an unexpected file system error (a 500).
   */
  render_GET(request: Request): Deferred<RenderResult> {
    return ensureDeferred(this._serve(request));
  }

  private async _serve(request: Request): Promise<RenderResult> {
    const segments = request.postpath;
    const n = segments.length;
    for (let i = 0; i < n; i++) {
      const segment = segments[i]!;
      if (segment === '' ? i !== n - 1 : !safeSegment(segment)) throw new HttpError(404);
    }
    const trailingSlash = n > 0 && segments[n - 1] === '';
    const rel = trailingSlash ? segments.slice(0, -1) : segments;
    const root = await this._root();
    let opened = await this._open(rel.length === 0 ? this.path : join(this.path, ...rel), root);
    if (opened.stats.isDirectory()) {
      closeQuietly(opened.handle);
      if (!request.rawPath.endsWith('/')) {
        const q = request.rawQuery;
        request.redirect(`${request.rawPath}/${q === '' ? '' : `?${q}`}`);
        return NOT_DONE_YET;
      }
      const dir = opened.real;
      let index: Opened | null = null;
      for (const name of this.indexNames) {
        try {
          const candidate = await this._open(join(dir, name), root);
          if (candidate.stats.isFile()) {
            index = candidate;
            break;
          }
          closeQuietly(candidate.handle);
        } catch (e) {
          if (!(e instanceof HttpError && e.status === 404)) throw e;
        }
      }
      if (index === null) {
        if (!this.allowDirectoryListing) throw new HttpError(403, 'directory listing is not allowed');
        return this._listing(request, dir);
      }
      opened = index;
    } else if (trailingSlash && rel.length > 0) {
      // `file.txt/`: a file is not a directory.
      closeQuietly(opened.handle);
      throw new HttpError(404);
    }
    try {
      return this._serveFile(request, opened);
    } catch (e) {
      closeQuietly(opened.handle);
      throw e;
    }
  }

  /** The real path of the root, resolved once. */
  private _root(): Promise<string> {
    if (this._realRoot === null) {
      const p = fsp.realpath(this.path);
      this._realRoot = p;
      // A root that does not exist yet may appear later: do not cache the failure.
      p.catch(() => {
        if (this._realRoot === p) this._realRoot = null;
      });
    }
    return this._realRoot.catch((e: unknown) => {
      throw fsError(e);
    });
  }

  /** Resolve, check containment, open without blocking or following, and stat what was opened. */
  private async _open(path: string, root: string): Promise<Opened> {
    let real: string;
    try {
      real = await fsp.realpath(path);
    } catch (e) {
      throw fsError(e);
    }
    if (!this.followSymlinks && real !== root && !real.startsWith(root.endsWith(sep) ? root : root + sep)) {
      throw new HttpError(403, 'the path leads outside the served directory');
    }
    let handle: FileHandle;
    try {
      handle = await fsp.open(real, OPEN_FLAGS);
    } catch (e) {
      throw fsError(e);
    }
    let stats: Stats;
    try {
      stats = await handle.stat();
    } catch (e) {
      closeQuietly(handle);
      throw fsError(e);
    }
    if (!stats.isFile() && !stats.isDirectory()) {
      closeQuietly(handle);
      throw new HttpError(404);
    }
    return { handle, stats, real, name: basename(path) };
  }

  private _serveFile(request: Request, opened: Opened): RenderResult {
    const { handle, stats } = opened;
    const size = stats.size;
    const mtime = Math.floor(stats.mtimeMs / 1000);
    const etag = `W/"${size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
    request.setHeader('ETag', etag);
    request.setHeader('Last-Modified', httpDate(mtime));
    request.setHeader('Accept-Ranges', 'bytes');
    if (this._preconditionFailed(request, mtime)) {
      closeQuietly(handle);
      request.setResponseCode(412);
      request.finish();
      return NOT_DONE_YET;
    }
    if (this._notModified(request, etag, mtime)) {
      closeQuietly(handle);
      request.setResponseCode(304);
      request.finish();
      return NOT_DONE_YET;
    }
    const type = this.contentType(opened.name);
    request.setHeader('Content-Type', type);

    let ranges: ByteRange[] | null = null;
    const rangeField = request.method === 'GET' ? request.requestHeaders.getCombined('range') : undefined;
    if (rangeField !== undefined && size > 0 && this._ifRangeHolds(request, etag, mtime)) {
      ranges = parseByteRanges(rangeField, size);
      if (ranges !== null && ranges.length === 0) {
        closeQuietly(handle);
        request.setResponseCode(416);
        request.setHeader('Content-Range', `bytes */${size}`);
        request.finish('');
        return NOT_DONE_YET;
      }
      if (ranges !== null) {
        let total = 0;
        for (const r of ranges) total += r.end - r.start + 1;
        if (ranges.length > this.maxRanges || total > size) ranges = null;
      }
    }

    let parts: FilePart[];
    let suffix = '';
    if (ranges === null) {
      request.setHeader('Content-Length', size);
      parts = [{ prefix: '', start: 0, end: size }];
    } else if (ranges.length === 1) {
      const r = ranges[0]!;
      request.setResponseCode(206);
      request.setHeader('Content-Range', `bytes ${r.start}-${r.end}/${size}`);
      request.setHeader('Content-Length', r.end - r.start + 1);
      parts = [{ prefix: '', start: r.start, end: r.end + 1 }];
    } else {
      const boundary = randomBytes(12).toString('hex');
      parts = ranges.map((r) => ({
        prefix: `\r\n--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${r.start}-${r.end}/${size}\r\n\r\n`,
        start: r.start,
        end: r.end + 1,
      }));
      suffix = `\r\n--${boundary}--\r\n`;
      let length = suffix.length;
      for (const p of parts) length += p.prefix.length + (p.end - p.start);
      request.setResponseCode(206);
      request.setHeader('Content-Type', `multipart/byteranges; boundary=${boundary}`);
      request.setHeader('Content-Length', length);
    }
    if (request.method === 'HEAD' || size === 0) {
      closeQuietly(handle);
      request.finish();
      return NOT_DONE_YET;
    }
    new FileProducer(request, handle, parts, suffix, this.chunkSize).start();
    return NOT_DONE_YET;
  }

  /**
   * `If-Match` (when present, it alone decides), else `If-Unmodified-Since`:
   * true when the client's precondition does not hold for this file. An
   * unparseable date is ignored, as RFC 9110 §13.1.4 requires.
   */
  private _preconditionFailed(request: Request, mtime: number): boolean {
    const im = request.requestHeaders.getCombined('if-match');
    if (im !== undefined) return !ifMatchPassesWeakTag(im);
    const ius = request.getHeader('if-unmodified-since');
    if (ius === undefined) return false;
    const since = parseHttpDate(ius.trim());
    return since !== null && mtime > since;
  }

  /** `If-None-Match` (when present, it alone decides), else `If-Modified-Since`. */
  private _notModified(request: Request, etag: string, mtime: number): boolean {
    const inm = request.requestHeaders.getCombined('if-none-match');
    if (inm !== undefined) return etagListMatches(inm, etag);
    const ims = request.getHeader('if-modified-since');
    if (ims === undefined) return false;
    const since = parseHttpDate(ims.trim());
    return since !== null && mtime <= since;
  }

  /** No `If-Range`, or one that still describes this file (RFC 9110 §13.1.5). */
  private _ifRangeHolds(request: Request, etag: string, mtime: number): boolean {
    const value = request.getHeader('if-range');
    if (value === undefined) return true;
    const v = value.trim();
    // An entity tag needs the strong comparison, which a weak tag (ours) never passes.
    if (v.startsWith('"') || v.startsWith('W/')) return !etag.startsWith('W/') && v === etag;
    return parseHttpDate(v) === mtime;
  }

  private async _listing(request: Request, dir: string): Promise<RenderResult> {
    let names: string[];
    try {
      names = (await fsp.readdir(dir)).sort();
    } catch (e) {
      throw fsError(e);
    }
    // Broken symlinks and entries that vanish meanwhile are left out, as Twisted does.
    const entries = await Promise.all(
      names.map(async (name) => {
        try {
          return { name, stats: await fsp.stat(join(dir, name)) };
        } catch {
          return null;
        }
      }),
    );
    const title = escapeHtml(request.path);
    const rows: string[] = [];
    for (const e of entries) {
      if (e === null) continue;
      const isDir = e.stats.isDirectory();
      const href = encodeURIComponent(e.name) + (isDir ? '/' : '');
      const text = escapeHtml(e.name) + (isDir ? '/' : '');
      const size = isDir ? '' : formatSize(e.stats.size);
      const type = isDir ? '[Directory]' : `[${escapeHtml(this.contentType(e.name))}]`;
      rows.push(
        `<tr class="${rows.length % 2 === 0 ? 'odd' : 'even'}"><td><a href="${href}">${text}</a></td><td>${size}</td><td>${type}</td></tr>`,
      );
    }
    request.setHeader('Content-Type', `text/html${UTF8}`);
    return (
      `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Directory listing for ${title}</title></head>` +
      `<body><h1>Directory listing for ${title}</h1><table>` +
      `<tr><th>Filename</th><th>Size</th><th>Content type</th></tr>\n${rows.join('\n')}\n</table></body></html>\n`
    );
  }
}

// ---------------------------------------------------------------- the producer

/** A stretch of the body: `prefix` (latin1 text, may be empty), then file bytes [start, end). */
interface FilePart {
  readonly prefix: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Streams parts of an open file into a request: one asynchronous read of
 * at most `chunkSize` bytes at a time, each written as it arrives. A push
 * producer: paused (by the connection, when its buffer is full) it makes
 * no new read; stopped (the connection is gone) it closes the file.
 */
class FileProducer implements IPushProducer {
  private _part = 0;
  private _pos: number;
  private _prefixSent = false;
  private _paused = false;
  private _reading = false;
  private _done = false;

  constructor(
    private readonly request: Request,
    private readonly handle: FileHandle,
    private readonly parts: readonly FilePart[],
    private readonly suffix: string,
    private readonly chunkSize: number,
  ) {
    this._pos = parts.length === 0 ? 0 : parts[0]!.start;
  }

  start(): void {
    this.request.registerProducer(this, true);
    this._next();
  }

  pauseProducing(): void {
    this._paused = true;
  }

  resumeProducing(): void {
    if (this._done) return;
    this._paused = false;
    this._next();
  }

  stopProducing(): void {
    this._close();
  }

  /** Start the next read, or end the response, unless paused or a read is under way. */
  private _next(): void {
    if (this._done || this._paused || this._reading) return;
    const request = this.request;
    if (request.disconnected || request.finished) {
      this._close();
      return;
    }
    let part = this.parts[this._part];
    while (part !== undefined && this._pos >= part.end && (this._prefixSent || part.prefix === '')) {
      part = this.parts[++this._part];
      this._prefixSent = false;
      if (part !== undefined) this._pos = part.start;
    }
    if (part === undefined) {
      this._close();
      if (this.suffix !== '') request.write(Buffer.from(this.suffix, 'latin1'));
      request.finish();
      return;
    }
    // A part's prefix rides in front of its first chunk: one write.
    const prefix = this._prefixSent ? '' : part.prefix;
    const n = Math.min(this.chunkSize, part.end - this._pos);
    const buf = Buffer.allocUnsafe(prefix.length + n);
    if (prefix !== '') buf.write(prefix, 0, 'latin1');
    this._reading = true;
    this.handle.read(buf, prefix.length, n, this._pos).then(
      ({ bytesRead }) => this._onRead(buf, prefix.length, bytesRead),
      (err: unknown) => this._onError(err),
    );
  }

  private _onRead(buf: Buffer, offset: number, bytesRead: number): void {
    this._reading = false;
    if (this._done) {
      // Stopped while reading: the file is closed now that the read is over.
      closeQuietly(this.handle);
      return;
    }
    if (this.request.disconnected) {
      this._close();
      return;
    }
    if (bytesRead === 0) {
      this._onError(new Error('the file is shorter than when it was opened'));
      return;
    }
    this._prefixSent = true;
    this._pos += bytesRead;
    try {
      this.request.write(offset + bytesRead === buf.length ? buf : buf.subarray(0, offset + bytesRead));
    } catch (e) {
      this._onError(e);
      return;
    }
    this._next();
  }

  private _onError(err: unknown): void {
    const wasReading = this._reading;
    this._reading = false;
    if (this._done) {
      if (wasReading) closeQuietly(this.handle);
      return;
    }
    this._close();
    // The response has started (or the head is due): the connection is aborted, the error logged.
    if (!this.request.finished && !this.request.disconnected) this.request.processingFailed(err);
  }

  private _close(): void {
    if (this._done) return;
    this._done = true;
    // A read under way still uses the handle: the file is closed when it returns.
    if (!this._reading) closeQuietly(this.handle);
  }
}
