// UDP responder: answers every datagram with the same text in upper case. It binds
// 127.0.0.1 on the port given on the command line (default 9999; 0 picks a free one) and
// prints where it listens. Try it from another terminal with `nc -u 127.0.0.1 9999`: type a
// line, press Enter, and the answer comes back in capitals. Ctrl-C stops the reactor, which
// closes the port. Run it with `node examples/udp-responder.js [port]` after `npm run build`.
import { reactor } from 'spindle';

const port = Number(process.argv[2] ?? 9999);

/** A datagram protocol is a plain object (or a class) with the callbacks it needs. */
const upperCaser = {
  transport: null,

  // Called once the port is bound: the transport is set and knows the real port.
  startProtocol() {
    const { host, port } = this.transport.getHost();
    console.log(`answering on udp ${host}:${port} (try: nc -u ${host} ${port})`);
  },

  // One call per datagram, whole: UDP never splits or merges them.
  datagramReceived(data, from) {
    const text = Buffer.from(data).toString('utf8');
    console.log(`${from} sent ${JSON.stringify(text)}`);
    this.transport.write(Buffer.from(text.toUpperCase(), 'utf8'), { host: from.host, port: from.port });
  },

  stopProtocol() {
    console.log('port closed');
  },
};

const udp = reactor.listenUDP(port, upperCaser, { interface: '127.0.0.1' });
udp.ready.addErrback((failure) => {
  console.log(`could not listen on udp port ${port}: ${failure.value.cause?.message ?? failure.value.message}`);
  process.exitCode = 1;
  reactor.stop();
});

await reactor.run(); // until Ctrl-C (SIGINT) or SIGTERM
