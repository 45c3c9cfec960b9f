// Process runner: runs the command given on the command line (directly, no shell), streams
// its stdout and stderr line by line with a prefix, and prints how it ended: its exit code,
// the signal that killed it, or why it could not start. The child inherits this process's
// environment because we pass `env: null` (Spindle's default, like Twisted's, is an EMPTY
// environment). Run it after `npm run build`, for example:
//   node examples/process-runner.js ls -l /
//   node examples/process-runner.js sh -c 'echo out; echo oops >&2; exit 3'
//   node examples/process-runner.js sleep 30     (then Ctrl-C: shutdown sends the child SIGTERM)
import { reactor, ProcessDone } from 'spindle';

const [command, ...args] = process.argv.slice(2);
if (command === undefined) {
  console.log('usage: node examples/process-runner.js COMMAND [ARGUMENT...]');
  process.exit(2);
}

/** Prints each complete line of fd 1 and fd 2 with a prefix; keeps partial lines until they end. */
class PrefixedOutput {
  transport = null;
  partial = new Map([
    [1, ''],
    [2, ''],
  ]);

  connectionMade() {
    if (this.transport.pid !== undefined) console.log(`[runner] started ${command} as pid ${this.transport.pid}`);
    this.transport.closeStdin(); // we have nothing to say to it
  }

  // Every fd's data comes here (a protocol without it gets outReceived/errReceived).
  childDataReceived(fd, data) {
    const lines = (this.partial.get(fd) + Buffer.from(data).toString('utf8')).split('\n');
    this.partial.set(fd, lines.pop());
    for (const line of lines) console.log(`${fd === 1 ? 'out' : 'err'} | ${line}`);
  }

  // Last of all: the process has exited and every pipe is closed.
  processEnded(reason) {
    for (const [fd, rest] of this.partial) if (rest !== '') console.log(`${fd === 1 ? 'out' : 'err'} | ${rest}`);
    const ended = reason.value;
    if (ended instanceof ProcessDone) {
      console.log('[runner] finished: exit code 0');
    } else if (ended.signal !== null) {
      console.log(`[runner] killed by ${ended.signal}`);
      process.exitCode = 1;
    } else if (ended.exitCode !== null) {
      console.log(`[runner] finished: exit code ${ended.exitCode}`);
      process.exitCode = ended.exitCode;
    } else {
      console.log(`[runner] could not start ${command}: ${ended.cause?.code ?? ended.message}`);
      process.exitCode = 127;
    }
    if (reactor.running) reactor.stop();
  }
}

reactor.callWhenRunning(() => {
  reactor.spawnProcess(new PrefixedOutput(), command, args, { env: null });
});
await reactor.run();
