/**
 * `spindle worker`: consume named channels of a channel layer with an application, like
 * Channels' `runworker`.
 * @module
 */
import { Deferred } from '../defer/deferred.js';
import { runWorker, type Worker } from '../channels/worker.js';
import type { ChannelLayer } from '../channels/types.js';
import { getReactor } from '../reactor/default.js';
import type { IReactor } from '../reactor/interfaces.js';
import { UsageError, flagOf, formatOptions, parseArgs, secondsValue, valueOf, type OptionSpec, type ParsedArgs } from './args.js';
import { LoadAppError, loadApp } from './loadApp.js';
import {
  EXIT,
  HELP_OPTION,
  LAYER_OPTION,
  VERBOSITY_OPTION,
  createLayer,
  loadFailed,
  setUpLogging,
  stopReactor,
  usageFailed,
  type CliIO,
} from './serve.js';

const WORKER_OPTIONS: readonly OptionSpec[] = [
  LAYER_OPTION,
  {
    name: 'application-close-timeout',
    kind: 'value',
    metavar: 'S',
    help: 'on SIGTERM, cancel an instance still busy after S seconds (default 10)',
  },
  VERBOSITY_OPTION,
  HELP_OPTION,
];

const WORKER_HELP = `Usage: spindle worker <module>[:export] <channel>... [options]

Consume the named channels of a channel layer with an application: for each channel, one
application instance gets a scope { type: 'channel', channel } and receives that channel's
messages in order (use channelNameRouter to give each channel its consumer). An instance that
crashes is logged and recreated. SIGTERM or SIGINT stop it: no more messages are taken, the
instances finish what they took, and it exits 0.

The in-memory layer only carries messages sent inside this process: to consume what other
processes send, use a Redis layer (--layer redis://...).

Options:
${formatOptions(WORKER_OPTIONS)}

Examples:
  spindle worker app.mjs page-counter
  spindle worker ./site.js:application thumbnails-generate emails --layer redis://127.0.0.1:6379/0

Exit status: 0 after a clean stop, 1 when the application cannot be loaded, 2 for a usage error.
`;

/**
 * `spindle worker <module>[:export] <channel>... [options]` (see the help text): resolves with
 * the exit status once the worker has stopped (after SIGTERM/SIGINT), or at once for a usage
 * error (2), an application that cannot be loaded (1), or `--help` (0).
 */
export async function workerCommand(argv: readonly string[], io: CliIO, reactor: IReactor = getReactor()): Promise<number> {
  let parsed: ParsedArgs;
  let closeTimeout: number | undefined;
  try {
    parsed = parseArgs(argv, WORKER_OPTIONS);
    if (flagOf(parsed, 'help')) {
      io.stdout.write(WORKER_HELP);
      return EXIT.ok;
    }
    if (parsed.positionals.length < 2) {
      throw new UsageError(
        parsed.positionals.length === 0 ? 'which application? spindle worker <module>[:export] <channel>...' : 'which channels? spindle worker <module>[:export] <channel>...',
      );
    }
    const t = valueOf(parsed, 'application-close-timeout');
    closeTimeout = t === undefined ? undefined : secondsValue('--application-close-timeout', t);
    setUpLogging(parsed, io);
  } catch (e) {
    if (e instanceof UsageError) return usageFailed('worker', e, io);
    throw e;
  }
  const [spec, ...channels] = parsed.positionals as [string, ...string[]];

  let app;
  try {
    app = await loadApp(spec, io.cwd);
  } catch (e) {
    if (e instanceof LoadAppError) return loadFailed('worker', e, io);
    throw e;
  }
  let layer: ChannelLayer;
  try {
    layer = await createLayer(valueOf(parsed, 'layer'), reactor);
  } catch (e) {
    if (e instanceof UsageError) return usageFailed('worker', e, io);
    throw e;
  }

  let worker: Worker;
  try {
    worker = runWorker(app, channels, {
      channelLayer: layer,
      reactor,
      ...(closeTimeout !== undefined ? { applicationCloseTimeout: closeTimeout } : {}),
    });
  } catch (e) {
    // A bad channel name.
    void layer.close();
    return usageFailed('worker', new UsageError(e instanceof Error ? e.message : String(e)), io);
  }
  const stopped = reactor.run();
  reactor.addSystemEventTrigger('before', 'shutdown', () =>
    worker.stop().addBoth(() => layer.close()).addBoth((): void => undefined) as Deferred<void>,
  );
  if ((valueOf(parsed, 'layer') ?? 'memory') === 'memory') {
    io.stderr.write('spindle worker: note: the in-memory layer only carries messages sent inside this process\n');
  }
  io.stdout.write(`Worker consuming ${channels.join(', ')}\n`);
  try {
    await stopped;
  } catch {
    stopReactor(reactor);
  }
  return EXIT.ok;
}
