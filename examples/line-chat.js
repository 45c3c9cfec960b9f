// Line chat: a chat room you join with telnet. Start it with `node examples/line-chat.js`
// (after `npm run build`), then in two or more terminals run `telnet 127.0.0.1 8123`. Each
// user first picks a name; every line they type is then sent to everybody else in the room,
// and `/quit` leaves. The server is one `LineReceiver` per connection (lines end with CRLF,
// as telnet sends them) and one `Factory` holding the room, listening on 127.0.0.1 only.
// Importing this file starts nothing: it exports `ChatProtocol` and `ChatFactory`, and
// listens only when run as the main module. Ctrl-C stops the reactor and closes everything.
import { pathToFileURL } from 'node:url';
import { Factory, LineReceiver, reactor } from 'spindle';

const PORT = Number(process.argv[2] ?? 8123);

/** One connected user. `this.factory` is the ChatFactory: the room. */
export class ChatProtocol extends LineReceiver {
  // Names are short; a line longer than this closes the connection (lineLengthExceeded).
  MAX_LENGTH = 1024;
  name = null;

  connectionMade() {
    this.sendLine("What's your name?");
  }

  lineReceived(line) {
    const text = line.toString('utf8').trim();
    if (this.name === null) this.chooseName(text);
    else if (text === '/quit') this.quit();
    else if (text !== '') this.factory.broadcast(`<${this.name}> ${text}`, this);
  }

  chooseName(name) {
    const room = this.factory.users;
    if (!/^[\p{L}\p{N}_.-]{1,20}$/u.test(name)) {
      this.sendLine('Names are 1 to 20 letters, digits, _ . or -. Try again:');
    } else if (room.has(name)) {
      this.sendLine('Name taken, please choose another.');
    } else {
      this.name = name;
      room.set(name, this);
      const others = [...room.keys()].filter((n) => n !== name);
      this.sendLine(`Welcome, ${name}! ${others.length ? `Here: ${others.join(', ')}.` : 'You are alone.'} /quit leaves.`);
      this.factory.broadcast(`* ${name} has joined`, this);
    }
  }

  quit() {
    this.sendLine('Bye!');
    this.transport.loseConnection(); // connectionLost follows once the bytes are out
  }

  connectionLost(reason) {
    super.connectionLost(reason);
    if (this.name !== null && this.factory.users.get(this.name) === this) {
      this.factory.users.delete(this.name);
      this.factory.broadcast(`* ${this.name} has left`, this);
    }
  }
}

/** The room: who is here, and how to tell them all. */
export class ChatFactory extends Factory {
  protocol = ChatProtocol;
  users = new Map();

  broadcast(message, from) {
    for (const user of this.users.values()) if (user !== from) user.sendLine(message);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = reactor.listenTCP(PORT, new ChatFactory(), { interface: '127.0.0.1' });
  port.ready.addCallbacks(
    (p) => console.log(`chat room open: telnet ${p.getHost().host} ${p.getHost().port}`),
    (failure) => {
      console.log(`could not listen on port ${PORT}: ${failure.value.cause?.message ?? failure.value.message}`);
      process.exitCode = 1;
      reactor.stop();
    },
  );
  await reactor.run(); // until Ctrl-C (SIGINT) or SIGTERM
}
