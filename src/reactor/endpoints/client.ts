/**
 * clientFromString: a client endpoint from a description such as
 * `tcp:host=127.0.0.1:port=6379` (Twisted's clientFromString), and the
 * registry of parsers behind it.
 */
import { isIP } from 'node:net';
import type { IReactor, IStreamClientEndpoint, TLSOptions } from '../interfaces.js';
import { HostnameEndpoint } from './hostname.js';
import { ArgumentReader, EndpointDescriptionError, bindArguments, parseDescription } from './parse.js';
import { SSL4ClientEndpoint, TCP4ClientEndpoint, UNIXClientEndpoint } from './tcp.js';

/**
 * Builds a client endpoint from a parsed description (see `ServerParser`:
 * same arguments). It should throw EndpointDescriptionError for arguments
 * it cannot use.
 */
export type ClientParser = (
  reactor: IReactor,
  args: string[],
  kwargs: Record<string, string>,
  description: string,
) => IStreamClientEndpoint;

const parsers = new Map<string, ClientParser>();

const PREFIX = /^[a-z][a-z0-9+.-]*$/i;

/**
 * Make `prefix:` client descriptions (case-insensitive) build endpoints with
 * `parser`. Returns a function that removes the registration.
 *
 * @throws TypeError when `prefix` is not a word; Error when it is taken.
 */
export function registerClientParser(prefix: string, parser: ClientParser): () => void {
  if (!PREFIX.test(prefix)) throw new TypeError(`an endpoint prefix is a word such as 'tcp', not ${JSON.stringify(prefix)}`);
  const key = prefix.toLowerCase();
  if (parsers.has(key)) throw new Error(`a client endpoint parser for '${key}:' is already registered`);
  parsers.set(key, parser);
  return () => {
    if (parsers.get(key) === parser) parsers.delete(key);
  };
}

/**
 * A client endpoint from a description (grammar as in `serverFromString`).
 *
 * - `tcp:host=H:port=P[:timeout=S][:bindAddress=ADDR]`, or positional
 *   `tcp:H:P` (also `tcp:host=H:P`) — TCP4ClientEndpoint (timeout default
 *   30 s; bindAddress sets the local address, any port);
 * - `unix:path=PATH[:timeout=S][:lockfile=0|1]` (or `unix:PATH`) — lockfile
 *   is accepted for Twisted compatibility and ignored;
 * - `ssl:host=H:port=P[:timeout=S][:bindAddress=ADDR][:hostname=NAME][:caCertsDir=DIR|:ca=FILE][:certKey=FILE[:privateKey=FILE]]`
 *   — SSL4ClientEndpoint that always verifies the server: against
 *   `hostname` (default: `host` when it is a name), trusting Node's CA list
 *   or the `*.pem` files of `caCertsDir` / the `ca` file; certKey (with
 *   privateKey, default the same file) is a client certificate. Files are
 *   read at `connect` time;
 * - `tls:H:P[:timeout=S][:bindAddress=ADDR][:trustRoots=DIR|:ca=FILE][:certificate=FILE[:privateKey=FILE]]`
 *   — a HostnameEndpoint (every address of H, happy eyeballs) with TLS,
 *   verifying the certificate against H;
 * - prefixes added with {@link registerClientParser}.
 *
 * @throws EndpointDescriptionError for an unknown prefix or a bad, missing,
 * unknown or repeated argument.
 *
 * @example
 * ```ts
 * const endpoint = clientFromString(reactor, 'tcp:host=127.0.0.1:port=6379:timeout=5');
 * const proto = await endpoint.connect(factory);
 * ```
 */
export function clientFromString(reactor: IReactor, description: string): IStreamClientEndpoint {
  if (typeof description !== 'string') throw new TypeError('an endpoint description is a string such as "tcp:localhost:80"');
  const { args, kwargs } = parseDescription(description);
  const prefix = args[0]!;
  const parser = parsers.get(prefix.toLowerCase());
  if (parser === undefined) {
    throw new EndpointDescriptionError(
      `unknown client endpoint type '${prefix}' in ${JSON.stringify(description)} (known: ${[...parsers.keys()].join(', ')})`,
      description,
    );
  }
  return parser(reactor, args.slice(1), kwargs, description);
}

// ------------------------------------------------------------ built-in parsers

/**
 * Bind host and port the way Twisted does: two positionals are host and
 * port; one is the port when `host=` is given, else the host. Everything
 * else is keyword-only.
 */
function bindHostPort(
  prefix: string,
  description: string,
  args: readonly string[],
  kwargs: Readonly<Record<string, string>>,
  extra: readonly string[],
): Record<string, string | undefined> {
  if (args.length > 2) {
    throw new EndpointDescriptionError(
      `${prefix}: takes at most 2 positional arguments (host, port), got ${args.length}: ${JSON.stringify(description)}`,
      description,
    );
  }
  const kw = { ...kwargs };
  let positional = [...args];
  if (positional.length === 1 && kw.host !== undefined) {
    if (kw.port !== undefined) {
      throw new EndpointDescriptionError(`${prefix}: 'port' is given twice: ${JSON.stringify(description)}`, description);
    }
    kw.port = positional[0]!;
    positional = [];
  }
  return bindArguments(prefix, description, { args: positional, kwargs: kw }, ['host', 'port', ...extra], ['host', 'port']);
}

function connectOptions(r: ArgumentReader, b: Record<string, string | undefined>) {
  return {
    timeout: b.timeout === undefined ? 30 : r.seconds('timeout', b.timeout),
    bindAddress: b.bindAddress === undefined ? null : { host: b.bindAddress, port: 0 },
  };
}

/** Files a TLS client description names (paths), by role. */
interface TLSFiles {
  caDir?: string;
  caFile?: string;
  cert?: string;
  key?: string;
}

/**
 * TLS client options read from `files` when called (at connect time);
 * `names` are the argument names, for error messages.
 */
function clientTLS(
  r: ArgumentReader,
  names: Required<TLSFiles>,
  files: TLSFiles,
  servername: string | undefined,
): () => TLSOptions {
  return () => {
    const options: TLSOptions = { rejectUnauthorized: true };
    if (servername !== undefined) options.servername = servername;
    const ca: string[] = [];
    if (files.caDir !== undefined) ca.push(...r.pemDirectory(names.caDir, files.caDir));
    if (files.caFile !== undefined) ca.push(r.file(names.caFile, files.caFile));
    if (ca.length > 0) options.ca = ca;
    if (files.cert !== undefined) {
      options.cert = r.file(names.cert, files.cert);
      options.key = files.key !== undefined ? r.file(names.key, files.key) : r.file(names.cert, files.cert);
    }
    return options;
  };
}

const tcpParser: ClientParser = (reactor, args, kwargs, description) => {
  const b = bindHostPort('tcp', description, args, kwargs, ['timeout', 'bindAddress']);
  const r = new ArgumentReader('tcp', description);
  return new TCP4ClientEndpoint(reactor, b.host!, r.port('port', b.port!), connectOptions(r, b));
};

const unixParser: ClientParser = (reactor, args, kwargs, description) => {
  const b = bindArguments('unix', description, { args, kwargs }, ['path', 'timeout', 'lockfile'], ['path']);
  const r = new ArgumentReader('unix', description);
  if (b.lockfile !== undefined) r.flag('lockfile', b.lockfile);
  return new UNIXClientEndpoint(reactor, b.path!, { timeout: b.timeout === undefined ? 30 : r.seconds('timeout', b.timeout) });
};

const sslParser: ClientParser = (reactor, args, kwargs, description) => {
  const b = bindHostPort('ssl', description, args, kwargs, [
    'timeout',
    'bindAddress',
    'hostname',
    'caCertsDir',
    'ca',
    'certKey',
    'privateKey',
  ]);
  const r = new ArgumentReader('ssl', description);
  if (b.privateKey !== undefined && b.certKey === undefined) throw r.error('privateKey', 'needs certKey (the client certificate)');
  const host = b.host!;
  const servername = b.hostname ?? (isIP(host) === 0 ? host : undefined);
  const load = clientTLS(
    r,
    { caDir: 'caCertsDir', caFile: 'ca', cert: 'certKey', key: 'privateKey' },
    { caDir: b.caCertsDir, caFile: b.ca, cert: b.certKey, key: b.privateKey },
    servername,
  );
  return new SSL4ClientEndpoint(reactor, host, r.port('port', b.port!), load, connectOptions(r, b));
};

const tlsParser: ClientParser = (reactor, args, kwargs, description) => {
  const b = bindHostPort('tls', description, args, kwargs, [
    'timeout',
    'bindAddress',
    'trustRoots',
    'ca',
    'certificate',
    'privateKey',
  ]);
  const r = new ArgumentReader('tls', description);
  if (b.privateKey !== undefined && b.certificate === undefined) {
    throw r.error('privateKey', 'needs certificate (the client certificate)');
  }
  // HostnameEndpoint sets the server name (the host) on every attempt.
  const load = clientTLS(
    r,
    { caDir: 'trustRoots', caFile: 'ca', cert: 'certificate', key: 'privateKey' },
    { caDir: b.trustRoots, caFile: b.ca, cert: b.certificate, key: b.privateKey },
    undefined,
  );
  return new HostnameEndpoint(reactor, b.host!, r.port('port', b.port!), { ...connectOptions(r, b), tls: load });
};

parsers.set('tcp', tcpParser);
parsers.set('unix', unixParser);
parsers.set('ssl', sslParser);
parsers.set('tls', tlsParser);
