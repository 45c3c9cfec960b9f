#!/usr/bin/env node
/**
 * The `spindle` command: `spindle serve` (run an ASGI application, like daphne) and
 * `spindle worker` (consume channels, like Channels' runworker).
 * @module
 */
import { readFileSync } from 'node:fs';
import { EXIT, serveCommand, type CliIO } from './serve.js';
import { workerCommand } from './worker.js';

const HELP = `Usage: spindle <command> [options]

Commands:
  serve    serve an ASGI application over HTTP and WebSocket (like daphne)
  worker   consume channel-layer channels with an application (like runworker)

Run 'spindle <command> --help' for the options and examples of a command.
`;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Run the command line `argv` (without `node` and the script); resolves with the exit status:
 * 0 for a clean stop, 1 when the application cannot be loaded or served, 2 for a usage error.
 */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serveCommand(rest, io);
    case 'worker':
      return workerCommand(rest, io);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      (command === undefined ? io.stderr : io.stdout).write(HELP);
      return command === undefined ? EXIT.usage : EXIT.ok;
    case '--version':
      io.stdout.write(`spindle ${version()}\n`);
      return EXIT.ok;
    default:
      io.stderr.write(`spindle: unknown command ${JSON.stringify(command)}\n${HELP}`);
      return EXIT.usage;
  }
}

// The command has finished (for serve and worker: the reactor has stopped and everything it
// opened is closed): exit now, whatever the application itself may have left running.
main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`spindle: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(EXIT.error);
  },
);
