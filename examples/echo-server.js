/**
 * A TCP echo server: every byte a client sends comes straight back.
 *
 * Run `node examples/echo-server.js [port]` (default 8007), then talk to it
 * with `node examples/echo-client.js` or `nc 127.0.0.1 8007`. It shows the
 * basic shape of a Spindle server: a Protocol subclass with the callbacks it
 * needs, `Factory.forProtocol` to build one per connection, `listenTCP` on the
 * default reactor, and `reactor.run()`, which returns once the reactor has
 * stopped. Ctrl-C (SIGINT) or SIGTERM stops it gracefully: the port closes and
 * every open connection gets `connectionLost`.
 */
import { reactor, Factory, Protocol } from 'spindle';

class Echo extends Protocol {
  connectionMade() {
    console.log(`${this.transport.getPeer()} connected`);
  }

  dataReceived(data) {
    // The chunk may be any part of what the client sent: echo it as it is.
    this.transport.write(data);
  }

  connectionLost(reason) {
    console.log(`${this.transport.getPeer()} left: ${reason.getErrorMessage()}`);
  }
}

const port = Number(process.argv[2] ?? 8007);
const factory = Factory.forProtocol(Echo);
factory.noisy = false;

reactor.listenTCP(port, factory, { interface: '127.0.0.1' }).ready.addCallbacks(
  (listening) => console.log(`echo server listening on ${listening.getHost()} (Ctrl-C to stop)`),
  (failure) => {
    console.error(`cannot listen: ${failure.getErrorMessage()} (${failure.value.cause?.message ?? 'no cause'})`);
    process.exitCode = 1;
    reactor.stop();
  },
);

await reactor.run();
console.log('stopped');
