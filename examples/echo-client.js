/**
 * A TCP echo client: connects to the echo server, sends a message, prints
 * what comes back, then closes the connection and stops the reactor.
 *
 * Run the server first (`node examples/echo-server.js`), then
 * `node examples/echo-client.js [host] [port] [message]` (defaults:
 * 127.0.0.1, 8007, "Hello, Spindle!"). It shows `connectTCP` with a
 * ClientFactory: the protocol is built once connected, and the factory hears
 * how connecting went — `clientConnectionFailed` (refused, timed out, name not
 * found) or, later, `clientConnectionLost`.
 */
import { reactor, ClientFactory, Protocol } from 'spindle';

const [host = '127.0.0.1', portText = '8007', message = 'Hello, Spindle!'] = process.argv.slice(2);

class EchoClient extends Protocol {
  received = Buffer.alloc(0);

  connectionMade() {
    console.log(`connected to ${this.transport.getPeer()}`);
    this.transport.write(Buffer.from(message));
  }

  dataReceived(data) {
    // The echo may come back in several pieces: wait for all of it.
    this.received = Buffer.concat([this.received, data]);
    if (this.received.length >= Buffer.byteLength(message)) {
      console.log(`echoed: ${this.received.toString()}`);
      this.transport.loseConnection();
    }
  }
}

class EchoClientFactory extends ClientFactory {
  protocol = EchoClient;
  noisy = false;

  clientConnectionFailed(connector, reason) {
    console.error(`could not connect to ${connector.getDestination()}: ${reason.getErrorMessage()}`);
    process.exitCode = 1;
    reactor.stop();
  }

  clientConnectionLost(connector, reason) {
    console.log(`connection closed: ${reason.getErrorMessage()}`);
    reactor.stop();
  }
}

reactor.connectTCP(host, Number(portText), new EchoClientFactory(), { timeout: 5 });
await reactor.run();
