/**
 * serverFromString: a server endpoint from a description such as
 * `tcp:8000:interface=127.0.0.1` (Twisted's serverFromString), and the
 * registry of parsers behind it.
 */
import type { IReactor, IStreamServerEndpoint, TLSOptions } from '../interfaces.js';
import { ArgumentReader, EndpointDescriptionError, bindArguments, parseDescription } from './parse.js';
import { SSL4ServerEndpoint, TCP4ServerEndpoint, TCP6ServerEndpoint, UNIXServerEndpoint } from './tcp.js';

/**
 * Builds a server endpoint from a parsed description: `args` are the
 * positional arguments after the prefix, `kwargs` the `key=value` ones,
 * `description` the whole string (for error messages). It should throw
 * {@link EndpointDescriptionError} for arguments it cannot use.
 */
export type ServerParser = (
  reactor: IReactor,
  args: string[],
  kwargs: Record<string, string>,
  description: string,
) => IStreamServerEndpoint;

const parsers = new Map<string, ServerParser>();

const PREFIX = /^[a-z][a-z0-9+.-]*$/i;

/**
 * Make `prefix:` descriptions (case-insensitive) build endpoints with
 * `parser`. Returns a function that removes the registration.
 *
 * @throws TypeError when `prefix` is not a word (letters, digits, `+.-`).
 * @throws Error when the prefix is taken (built-in prefixes included).
 *
 * @example
 * ```ts
 * registerServerParser('memory', (reactor, [name]) => new MemoryServerEndpoint(name));
 * serverFromString(reactor, 'memory:chat');
 * ```
 */
export function registerServerParser(prefix: string, parser: ServerParser): () => void {
  if (!PREFIX.test(prefix)) throw new TypeError(`an endpoint prefix is a word such as 'tcp', not ${JSON.stringify(prefix)}`);
  const key = prefix.toLowerCase();
  if (parsers.has(key)) throw new Error(`a server endpoint parser for '${key}:' is already registered`);
  parsers.set(key, parser);
  return () => {
    if (parsers.get(key) === parser) parsers.delete(key);
  };
}

/**
 * A server endpoint from a description: a prefix naming the kind of
 * endpoint, then `:`-separated arguments, positional or `key=value`, with
 * `\` escaping the next character (see `quoteStringArgument`).
 *
 * - `tcp:PORT[:interface=ADDR][:backlog=N]` — TCP4ServerEndpoint (interface
 *   default '' = every IPv4 address, backlog default 50);
 * - `tcp6:PORT[:interface=ADDR][:backlog=N]` — interface default `::`;
 * - `unix:PATH[:mode=666][:backlog=N][:lockfile=0|1]` — mode is octal;
 *   `lockfile` is accepted for Twisted compatibility and ignored;
 * - `ssl:PORT[:privateKey=key.pem][:certKey=cert.pem][:extraCertChain=chain.pem][:interface=ADDR][:backlog=N]`,
 *   or `tls:` — privateKey defaults to `server.pem`, certKey to the
 *   privateKey file (one PEM holding both); the files are read when the
 *   endpoint listens, and an unreadable one fails `listen`;
 * - prefixes added with {@link registerServerParser}.
 *
 * @throws EndpointDescriptionError for an unknown prefix or a bad, missing,
 * unknown or repeated argument.
 *
 * @example
 * ```ts
 * const endpoint = serverFromString(reactor, 'tcp:8080:interface=127.0.0.1');
 * const port = await endpoint.listen(factory);
 * ```
 */
export function serverFromString(reactor: IReactor, description: string): IStreamServerEndpoint {
  if (typeof description !== 'string') throw new TypeError('an endpoint description is a string such as "tcp:8000"');
  const { args, kwargs } = parseDescription(description);
  const prefix = args[0]!;
  const parser = parsers.get(prefix.toLowerCase());
  if (parser === undefined) {
    throw new EndpointDescriptionError(
      `unknown server endpoint type '${prefix}' in ${JSON.stringify(description)} (known: ${[...parsers.keys()].join(', ')})`,
      description,
    );
  }
  return parser(reactor, args.slice(1), kwargs, description);
}

// ------------------------------------------------------------ built-in parsers

function tcpParser(prefix: string, Endpoint: typeof TCP4ServerEndpoint): ServerParser {
  return (reactor, args, kwargs, description) => {
    const b = bindArguments(prefix, description, { args, kwargs }, ['port', 'interface', 'backlog'], ['port']);
    const r = new ArgumentReader(prefix, description);
    return new Endpoint(reactor, r.port('port', b.port!), {
      ...(b.interface !== undefined ? { interface: b.interface } : {}),
      backlog: b.backlog === undefined ? 50 : r.integer('backlog', b.backlog, 1),
    });
  };
}

const unixParser: ServerParser = (reactor, args, kwargs, description) => {
  const kw = { ...kwargs };
  // `path=` reads better than Twisted's `address=`; take both.
  if (kw.path !== undefined) {
    if (kw.address !== undefined) throw new EndpointDescriptionError(`unix: give 'path' or 'address', not both: ${JSON.stringify(description)}`, description);
    kw.address = kw.path;
    delete kw.path;
  }
  const b = bindArguments('unix', description, { args, kwargs: kw }, ['address', 'mode', 'backlog', 'lockfile'], ['address']);
  const r = new ArgumentReader('unix', description);
  if (b.lockfile !== undefined) r.flag('lockfile', b.lockfile);
  return new UNIXServerEndpoint(reactor, b.address!, {
    mode: b.mode === undefined ? 0o666 : r.octal('mode', b.mode),
    backlog: b.backlog === undefined ? 50 : r.integer('backlog', b.backlog, 1),
  });
};

function sslParser(prefix: string): ServerParser {
  return (reactor, args, kwargs, description) => {
    // Twisted's order, so positional descriptions mean the same thing.
    const b = bindArguments(
      prefix,
      description,
      { args, kwargs },
      ['port', 'privateKey', 'certKey', 'sslmethod', 'interface', 'backlog', 'extraCertChain', 'dhParameters'],
      ['port'],
    );
    const r = new ArgumentReader(prefix, description);
    if (b.sslmethod !== undefined) throw r.error('sslmethod', 'is not supported (Node negotiates the TLS version)');
    if (b.dhParameters !== undefined) throw r.error('dhParameters', 'is not supported (ECDHE key exchange is used)');
    const port = r.port('port', b.port!);
    const privateKey = b.privateKey ?? 'server.pem';
    const certKey = b.certKey ?? privateKey;
    const chain = b.extraCertChain;
    const load = (): TLSOptions => {
      let cert = r.file('certKey', certKey);
      if (chain !== undefined) cert = `${cert.trimEnd()}\n${r.file('extraCertChain', chain)}`;
      return { key: r.file('privateKey', privateKey), cert };
    };
    return new SSL4ServerEndpoint(reactor, port, load, {
      interface: b.interface ?? '',
      backlog: b.backlog === undefined ? 50 : r.integer('backlog', b.backlog, 1),
    });
  };
}

parsers.set('tcp', tcpParser('tcp', TCP4ServerEndpoint));
parsers.set('tcp6', tcpParser('tcp6', TCP6ServerEndpoint));
parsers.set('unix', unixParser);
parsers.set('ssl', sslParser('ssl'));
parsers.set('tls', sslParser('tls'));
