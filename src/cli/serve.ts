/**
 * `spindle serve`: run an ASGI application on endpoints, like daphne — and the pieces the
 * `worker` command shares (the layer option, logging, the output streams).
 * @module
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { Deferred } from '../defer/deferred.js';
import { formatCombinedLogLine, type AccessLogEntry } from '../http/accessLog.js';
import { InMemoryChannelLayer } from '../channels/layers/inMemory.js';
import { serve, type ServeOptions, type SpindleServer } from '../channels/server/serve.js';
import type { ChannelLayer } from '../channels/types.js';
import {
  LogLevelFilterPredicate,
  beginLoggingTo,
  filteringObserver,
  textFileLogObserver,
} from '../logger/index.js';
import type { Address } from '../reactor/address.js';
import { quoteStringArgument } from '../reactor/endpoints/parse.js';
import { getReactor } from '../reactor/default.js';
import type { IReactor } from '../reactor/interfaces.js';
import {
  UsageError,
  flagOf,
  formatOptions,
  integerValue,
  listOf,
  parseArgs,
  secondsValue,
  valueOf,
  type OptionSpec,
  type ParsedArgs,
} from './args.js';
import { LoadAppError, loadApp } from './loadApp.js';
import { CLUSTER_PORT_ENV, isClusterWorker, reportListening, runPrimary } from './cluster.js';

/** Where a command writes, and where it runs. */
export interface CliIO {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
  /** The directory `<module>` paths are relative to. */
  readonly cwd: string;
}

/** Exit statuses of the commands. */
export const EXIT = Object.freeze({ ok: 0, error: 1, usage: 2 });

// ---------------------------------------------------------------- shared by serve and worker

/** The `--layer` option. */
export const LAYER_OPTION: OptionSpec = {
  name: 'layer',
  kind: 'value',
  metavar: 'URL',
  help: "channel layer: 'memory' (default) or redis://host:port/db",
};

/** The `-v` option. */
export const VERBOSITY_OPTION: OptionSpec = {
  name: 'verbosity',
  short: 'v',
  kind: 'value',
  metavar: 'N',
  help: 'how much to log to stderr: 0 warnings and errors, 1 (default) info, 2 debug for Spindle channels, 3 debug',
};

/** The `-h` option. */
export const HELP_OPTION: OptionSpec = { name: 'help', short: 'h', kind: 'flag', help: 'show this help and exit' };

/** Log to stderr at the level `-v` asks for (0–3, default 1). */
export function setUpLogging(parsed: ParsedArgs, io: CliIO): number {
  const v = valueOf(parsed, 'verbosity');
  const verbosity = v === undefined ? 1 : integerValue('-v/--verbosity', v, 0, 3);
  const levels = new LogLevelFilterPredicate(verbosity === 0 ? 'warn' : verbosity === 3 ? 'debug' : 'info');
  if (verbosity === 2) levels.setLogLevelForNamespace('spindle.channels', 'debug');
  beginLoggingTo([filteringObserver(textFileLogObserver(io.stderr), [levels])]);
  return verbosity;
}

/**
 * The channel layer `--layer` names: `memory` (an `InMemoryChannelLayer` on `reactor`) or a
 * `redis://` URL (the Redis layer, once it exists).
 * @throws UsageError for another value, or Redis while the Redis layer is not available.
 */
export async function createLayer(value: string | undefined, reactor: IReactor): Promise<ChannelLayer> {
  const spec = value ?? 'memory';
  if (spec === 'memory') return new InMemoryChannelLayer({ reactor });
  if (/^rediss?:\/\//i.test(spec)) {
    // Loaded by name, when asked for: the Redis client stays out of processes that do not use it.
    const where = '../channels/layers/redis.js';
    type RedisLayerClass = new (options: { hosts: string[]; reactor: IReactor }) => ChannelLayer;
    let mod: { RedisChannelLayer?: RedisLayerClass };
    try {
      mod = (await import(where)) as typeof mod;
    } catch {
      throw new UsageError('--layer: the Redis layer is not available yet: use --layer memory');
    }
    if (typeof mod.RedisChannelLayer !== 'function') throw new UsageError('--layer: the Redis layer is not available yet: use --layer memory');
    try {
      return new mod.RedisChannelLayer({ hosts: [spec], reactor });
    } catch (e) {
      throw new UsageError(`--layer: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new UsageError(`--layer takes 'memory' or a redis:// URL, not ${JSON.stringify(spec)}`);
}

/** Stop `reactor` unless it is already stopping. */
export function stopReactor(reactor: IReactor): void {
  try {
    reactor.stop();
  } catch {
    // already stopping (a signal came first)
  }
}

/** Print a usage error the way every command does. */
export function usageFailed(command: string, e: UsageError, io: CliIO): number {
  io.stderr.write(`spindle ${command}: ${e.message}\nTry 'spindle ${command} --help'.\n`);
  return EXIT.usage;
}

/** Print an application load error. */
export function loadFailed(command: string, e: unknown, io: CliIO): number {
  io.stderr.write(`spindle ${command}: ${e instanceof Error ? e.message : String(e)}\n`);
  return EXIT.error;
}

// ---------------------------------------------------------------- serve

const SERVE_OPTIONS: readonly OptionSpec[] = [
  { name: 'bind', short: 'b', kind: 'value', metavar: 'HOST', help: 'address to listen on (default 127.0.0.1 when no -e/-u)' },
  { name: 'port', short: 'p', kind: 'value', metavar: 'PORT', help: 'TCP port (default 8000 when no -e/-u; 0 picks a free one)' },
  { name: 'unix-socket', short: 'u', kind: 'value', metavar: 'PATH', help: 'listen on a UNIX socket' },
  { name: 'endpoint', short: 'e', kind: 'list', metavar: 'ENDPOINT', help: 'an endpoint description (repeatable): tcp:8000:interface=127.0.0.1, unix:/run/app.sock, ssl:8443:privateKey=key.pem:certKey=cert.pem' },
  LAYER_OPTION,
  { name: 'root-path', kind: 'value', metavar: 'PATH', help: "scope['root_path']: where a proxy mounts the application (e.g. /app)" },
  { name: 'proxy-headers', kind: 'flag', help: 'honour X-Forwarded-For/-Proto/-Port from trusted proxies (default: loopback and UNIX sockets)' },
  { name: 'proxy-trusted', kind: 'list', metavar: 'ADDR', help: 'a trusted proxy address or IPv4 network (repeatable; implies --proxy-headers)' },
  { name: 'http-timeout', kind: 'value', metavar: 'S', help: 'answer 503 when the application has not started its response in S seconds (default: no limit)' },
  { name: 'websocket-connect-timeout', kind: 'value', metavar: 'S', help: 'refuse a WebSocket (403) not accepted within S seconds (default 5)' },
  { name: 'websocket-max-lifetime', kind: 'value', metavar: 'S', help: 'close WebSockets S seconds after they open (default: never)' },
  { name: 'ping-interval', kind: 'value', metavar: 'S', help: 'WebSocket keepalive ping interval (default 20; 0 disables)' },
  { name: 'ping-timeout', kind: 'value', metavar: 'S', help: 'drop a WebSocket whose ping is not answered in S seconds (default 20)' },
  { name: 'application-close-timeout', kind: 'value', metavar: 'S', help: 'cancel an application S seconds after its connection closed (default 10)' },
  { name: 'shutdown-timeout', kind: 'value', metavar: 'S', help: 'on SIGTERM, abort connections still open after S seconds (default 30)' },
  { name: 'lifespan', kind: 'value', metavar: 'MODE', help: "ASGI lifespan: auto (default), on (required), off" },
  { name: 'access-log', kind: 'value', metavar: 'FILE', help: "append the access log to FILE ('-': stdout; default stdout at -v 1 or more)" },
  VERBOSITY_OPTION,
  { name: 'workers', kind: 'value', metavar: 'N', help: 'worker processes sharing the port (default 1); a crashed worker is restarted' },
  HELP_OPTION,
];

const SERVE_HELP = `Usage: spindle serve <module>[:export] [options]

Serve an ASGI application (a function (scope, receive, send), a router, a consumer's asApp(), or
a consumer class) over HTTP/1.1 and WebSocket. <module> is a path to an ES module (relative to
the current directory, or absolute) or a package name; its default export is served unless
:export names another. SIGTERM or SIGINT stop it gracefully: it stops accepting, finishes the
requests in flight, closes WebSockets with 1001, runs lifespan shutdown, and exits 0.

Options:
${formatOptions(SERVE_OPTIONS)}

Examples:
  spindle serve app.mjs                         # http://127.0.0.1:8000
  spindle serve ./site.js:application -p 8080 -b 0.0.0.0
  spindle serve app.mjs -p 0                    # a free port, printed on stdout
  spindle serve app.mjs -e tcp:8000 -e unix:/run/app.sock --root-path /app --proxy-headers
  spindle serve app.mjs -e ssl:8443:privateKey=key.pem:certKey=cert.pem -v 0
  spindle serve app.mjs -p 8000 --workers 4 --layer redis://127.0.0.1:6379/0

Exit status: 0 after a clean stop, 1 when the application cannot be loaded or served, 2 for a
usage error.
`;

/** The endpoint descriptions the options ask for. */
function endpointsOf(parsed: ParsedArgs): string[] {
  const endpoints = listOf(parsed, 'endpoint');
  const bind = valueOf(parsed, 'bind');
  const port = valueOf(parsed, 'port');
  const unix = valueOf(parsed, 'unix-socket');
  if (unix !== undefined) endpoints.push(`unix:${quoteStringArgument(unix)}`);
  if (bind !== undefined || port !== undefined || endpoints.length === 0) {
    let host = bind ?? '127.0.0.1';
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    let n = integerValue('-p/--port', port ?? '8000', 0, 65535);
    // A cluster worker binds the port its primary resolved, so that all share one.
    const resolved = isClusterWorker() ? process.env[CLUSTER_PORT_ENV] : undefined;
    if (n === 0 && resolved !== undefined && resolved !== '') n = Number(resolved);
    endpoints.push(`${host.includes(':') ? 'tcp6' : 'tcp'}:${n}:interface=${quoteStringArgument(host)}`);
  }
  return endpoints;
}

/** A URL-ish description of a bound address, for the "Listening on" line. */
export function describeAddress(address: Address, endpoint: string): string {
  if (!('host' in address)) return `unix:${address.name ?? '?'}`;
  const scheme = /^(ssl|tls):/i.test(endpoint) ? 'https' : 'http';
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${scheme}://${host}:${address.port}`;
}

function secondsOption(parsed: ParsedArgs, name: string): number | undefined {
  const v = valueOf(parsed, name);
  return v === undefined ? undefined : secondsValue(`--${name}`, v);
}

/** The server options the command line asks for (everything but the reactor and the layer). */
function serveOptionsOf(parsed: ParsedArgs): ServeOptions {
  const options: ServeOptions = { endpoints: endpointsOf(parsed) };
  const rootPath = valueOf(parsed, 'root-path');
  if (rootPath !== undefined) {
    if (rootPath !== '' && !rootPath.startsWith('/')) throw new UsageError(`--root-path must start with "/", not ${JSON.stringify(rootPath)}`);
    options.rootPath = rootPath.length > 1 ? rootPath.replace(/\/+$/, '') : rootPath;
  }
  const trusted = listOf(parsed, 'proxy-trusted');
  if (flagOf(parsed, 'proxy-headers') || trusted.length > 0) {
    options.proxyHeaders = { trusted: trusted.length > 0 ? trusted : ['127.0.0.1', '::1', 'unix'] };
  }
  const httpTimeout = secondsOption(parsed, 'http-timeout');
  if (httpTimeout !== undefined) options.httpTimeout = httpTimeout === 0 ? null : httpTimeout;
  const connect = secondsOption(parsed, 'websocket-connect-timeout');
  if (connect !== undefined) options.websocketConnectTimeout = connect === 0 ? null : connect;
  const lifetime = secondsOption(parsed, 'websocket-max-lifetime');
  if (lifetime !== undefined) options.websocketMaxLifetime = lifetime === 0 ? null : lifetime;
  const pingInterval = secondsOption(parsed, 'ping-interval');
  if (pingInterval !== undefined) options.websocketPingInterval = pingInterval === 0 ? null : pingInterval;
  const pingTimeout = secondsOption(parsed, 'ping-timeout');
  if (pingTimeout !== undefined) {
    if (pingTimeout === 0) throw new UsageError('--ping-timeout must be more than 0 seconds');
    options.websocketPingTimeout = pingTimeout;
  }
  const closeTimeout = secondsOption(parsed, 'application-close-timeout');
  if (closeTimeout !== undefined) options.applicationCloseTimeout = closeTimeout;
  const shutdownTimeout = secondsOption(parsed, 'shutdown-timeout');
  if (shutdownTimeout !== undefined) options.shutdownTimeout = shutdownTimeout;
  const lifespan = valueOf(parsed, 'lifespan');
  if (lifespan !== undefined) {
    if (lifespan !== 'auto' && lifespan !== 'on' && lifespan !== 'off') throw new UsageError(`--lifespan takes auto, on or off, not ${JSON.stringify(lifespan)}`);
    options.lifespan = lifespan;
  }
  if (workersOf(parsed) > 1 && listOf(parsed, 'endpoint').some((e) => /^(tcp6?|ssl|tls):0(:|$)/i.test(e))) {
    throw new UsageError('--workers: port 0 in an -e endpoint cannot be shared by the workers; use -p 0 or a fixed port');
  }
  return options;
}

/** The `--workers` count (default 1). @throws UsageError outside 1–1024. */
function workersOf(parsed: ParsedArgs): number {
  const workers = valueOf(parsed, 'workers');
  return workers === undefined ? 1 : integerValue('--workers', workers, 1, 1024);
}

/** In the primary: the `-p` port the workers will share (a free one for `-p 0`), or null. */
async function clusterPort(parsed: ParsedArgs, reactor: IReactor): Promise<number | null> {
  const unix = valueOf(parsed, 'unix-socket');
  const bind = valueOf(parsed, 'bind');
  const port = valueOf(parsed, 'port');
  if (bind === undefined && port === undefined && (listOf(parsed, 'endpoint').length > 0 || unix !== undefined)) return null;
  const n = integerValue('-p/--port', port ?? '8000', 0, 65535);
  if (n !== 0) return n;
  // Bind port 0 once here and release it: the workers then all bind that port (a small race
  // with other programs, as with any "find a free port").
  let host = bind ?? '127.0.0.1';
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const listening = reactor.listenTCP(0, { buildProtocol: () => null }, { interface: host });
  const p = await listening.ready;
  const address = p.getHost();
  await listening.stopListening();
  if (!('port' in address)) throw new UsageError('-p 0: no port could be found');
  return address.port;
}

/** Where the access log goes: a file stream, stdout, or nowhere. */
function accessLogOf(parsed: ParsedArgs, verbosity: number, io: CliIO): { sink: ((entry: AccessLogEntry) => void) | null; stream: WriteStream | null } {
  const target = valueOf(parsed, 'access-log');
  if (target === undefined && verbosity === 0) return { sink: null, stream: null };
  if (target === undefined || target === '-') {
    return { sink: (entry) => void io.stdout.write(`${formatCombinedLogLine(entry)}\n`), stream: null };
  }
  const stream = createWriteStream(target, { flags: 'a' });
  stream.on('error', (e) => io.stderr.write(`spindle serve: the access log ${target} cannot be written: ${e.message}\n`));
  return { sink: (entry) => void stream.write(`${formatCombinedLogLine(entry)}\n`), stream };
}

/**
 * `spindle serve <module>[:export] [options]` (see the help text): resolves with the exit
 * status once the server has stopped (after SIGTERM/SIGINT), or at once for a usage error (2),
 * an application that cannot be loaded or a server that cannot start (1), or `--help` (0).
 * Runs the reactor given (default: the global one).
 */
export async function serveCommand(argv: readonly string[], io: CliIO, reactor: IReactor = getReactor()): Promise<number> {
  let parsed: ParsedArgs;
  let options: ServeOptions;
  let spec: string;
  let verbosity: number;
  try {
    parsed = parseArgs(argv, SERVE_OPTIONS);
    if (flagOf(parsed, 'help')) {
      io.stdout.write(SERVE_HELP);
      return EXIT.ok;
    }
    if (parsed.positionals.length !== 1) {
      throw new UsageError(parsed.positionals.length === 0 ? 'which application? spindle serve <module>[:export]' : `one application at a time, not ${parsed.positionals.join(' ')}`);
    }
    spec = parsed.positionals[0]!;
    options = serveOptionsOf(parsed);
    verbosity = setUpLogging(parsed, io);
  } catch (e) {
    if (e instanceof UsageError) return usageFailed('serve', e, io);
    throw e;
  }
  const workers = workersOf(parsed);
  if (workers > 1 && !isClusterWorker()) {
    // The primary loads nothing and serves nothing: the workers re-run this command.
    let port: number | null;
    try {
      port = await clusterPort(parsed, reactor);
    } catch (e) {
      if (e instanceof UsageError) return usageFailed('serve', e, io);
      return loadFailed('serve', e, io);
    }
    const killAfter = (options.shutdownTimeout ?? 30) + 5;
    return runPrimary({ workers, port, killAfter, memoryLayer: (valueOf(parsed, 'layer') ?? 'memory') === 'memory' }, io, reactor);
  }

  let app;
  try {
    app = await loadApp(spec, io.cwd);
  } catch (e) {
    if (e instanceof LoadAppError) return loadFailed('serve', e, io);
    throw e;
  }
  let layer: ChannelLayer;
  try {
    layer = await createLayer(valueOf(parsed, 'layer'), reactor);
  } catch (e) {
    if (e instanceof UsageError) return usageFailed('serve', e, io);
    throw e;
  }
  const accessLog = accessLogOf(parsed, verbosity, io);

  if (isClusterWorker()) {
    // Ctrl-C in a terminal signals the whole process group, and the primary then forwards
    // SIGTERM: once the reactor has begun its graceful stop (and dropped its own handlers),
    // that second signal must not kill the worker mid-drain.
    const ignore = (): void => undefined;
    process.on('SIGINT', ignore);
    process.on('SIGTERM', ignore);
  }
  const stopped = reactor.run();
  let server: SpindleServer | null = null;
  const starting = serve(app, {
    ...options,
    reactor,
    channelLayer: layer,
    ...(accessLog.sink !== null ? { accessLog: accessLog.sink } : {}),
  });
  // SIGTERM/SIGINT (or a failed start) stop the reactor: the server stops first, then the layer.
  const ready = starting.asPromise().then(
    (s) => s,
    () => null,
  );
  reactor.addSystemEventTrigger('before', 'shutdown', () =>
    Deferred.fromPromise(
      ready.then(async (s) => {
        if (s !== null) await s.stop();
        await layer.close();
      }),
    ),
  );
  let failure: unknown = null;
  try {
    server = await starting;
  } catch (e) {
    failure = e;
  }
  if (server === null) {
    io.stderr.write(`spindle serve: cannot serve ${spec}: ${failure instanceof Error ? failure.message : String(failure)}\n`);
    stopReactor(reactor);
    await stopped;
    accessLog.stream?.end();
    return EXIT.error;
  }
  const lines = server.addresses.map((address, i) => `Listening on ${describeAddress(address, server!.endpoints[i]!)}`);
  if (!reportListening(lines)) for (const line of lines) io.stdout.write(`${line}\n`);
  await stopped;
  await new Promise<void>((resolve) => (accessLog.stream === null ? resolve() : accessLog.stream.end(resolve)));
  return EXIT.ok;
}
