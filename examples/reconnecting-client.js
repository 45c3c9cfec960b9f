// Reconnecting client: keeps a connection to 127.0.0.1:8123 (the line-chat example's port;
// another port may be given as the first argument) with a `ReconnectingClientFactory`, and
// prints each attempt and the delay before the next one. Run it with
// `node examples/reconnecting-client.js` after `npm run build`. With nothing listening, watch
// the backoff grow: about 0.5 s, 1.5 s, 4 s, then 10 s (each delay times e, with jitter,
// capped at 10 s). Start `node examples/line-chat.js` in another terminal and the client
// connects, joins the room as `bot-<pid>` and prints what it hears; stop the chat server and
// it retries again from the shortest delay. It gives up after 12 failed retries in a row;
// Ctrl-C stops it at any time.
import { LineReceiver, ReconnectingClientFactory, reactor } from 'spindle';

const PORT = Number(process.argv[2] ?? 8123);

/** Answers the chat server's name prompt, says hello, then prints every line. */
class ChatBot extends LineReceiver {
  connectionMade() {
    console.log(`connected to ${this.transport.getPeer()}`);
  }

  lineReceived(line) {
    const text = line.toString('utf8');
    console.log(`  | ${text}`);
    if (text === "What's your name?") {
      this.sendLine(`bot-${process.pid}`);
      this.sendLine('hello from the reconnecting client');
    }
  }
}

class BotFactory extends ReconnectingClientFactory {
  protocol = ChatBot;
  noisy = false; // this example prints its own messages

  constructor() {
    super({ initialDelay: 0.2, maxDelay: 10, maxRetries: 12 });
  }

  // Connected: start the backoff again for the next disconnection.
  buildProtocol(addr) {
    this.resetDelay();
    return super.buildProtocol(addr);
  }

  startedConnecting(connector) {
    console.log(`attempt ${this.retries + 1}: connecting to ${connector.getDestination()}`);
  }

  clientConnectionFailed(connector, reason) {
    super.clientConnectionFailed(connector, reason);
    this.report(`failed (${reason.value.message})`);
  }

  clientConnectionLost(connector, reason) {
    super.clientConnectionLost(connector, reason);
    this.report(`connection lost (${reason.type.name})`);
  }

  report(what) {
    if (this.pendingRetry !== null) {
      console.log(`${what}; retry ${this.retries} in ${this.delay.toFixed(2)} s`);
    } else {
      console.log(`${what}; giving up after ${this.retries - 1} retries`);
      reactor.stop();
    }
  }
}

reactor.connectTCP('127.0.0.1', PORT, new BotFactory(), { timeout: 5 });
await reactor.run(); // until it gives up, or Ctrl-C
