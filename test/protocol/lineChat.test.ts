/**
 * The chat protocol of examples/line-chat.js, driven with StringTransports.
 * The example imports 'spindle' (the built package), so the same logic is
 * written here against the sources: what is tested is how LineReceiver and
 * Factory carry a small line protocol, with input split every way telnet may
 * send it.
 */
import { describe, expect, it } from 'vitest';
import type { Failure } from '../../src/defer/failure.js';
import { Factory } from '../../src/protocol/factory.js';
import { LineReceiver } from '../../src/protocol/lineReceiver.js';
import { IPv4Address } from '../../src/reactor/address.js';
import { StringTransportWithDisconnection } from '../../src/testing/stringTransport.js';
import { chunkings } from './chunks.js';

class ChatProtocol extends LineReceiver {
  declare factory: ChatFactory;
  override MAX_LENGTH = 1024;
  name: string | null = null;

  override connectionMade(): void {
    this.sendLine("What's your name?");
  }

  override lineReceived(line: Buffer): void {
    const text = line.toString('utf8').trim();
    if (this.name === null) this.chooseName(text);
    else if (text === '/quit') this.quit();
    else if (text !== '') this.factory.broadcast(`<${this.name}> ${text}`, this);
  }

  chooseName(name: string): void {
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

  quit(): void {
    this.sendLine('Bye!');
    this.transport.loseConnection();
  }

  override connectionLost(reason: Failure): void {
    super.connectionLost(reason);
    if (this.name !== null && this.factory.users.get(this.name) === this) {
      this.factory.users.delete(this.name);
      this.factory.broadcast(`* ${this.name} has left`, this);
    }
  }
}

class ChatFactory extends Factory<ChatProtocol> {
  override protocol = ChatProtocol;
  override noisy = false;
  users = new Map<string, ChatProtocol>();

  broadcast(message: string, from: ChatProtocol): void {
    for (const user of this.users.values()) if (user !== from) user.sendLine(message);
  }
}

/** A connected user: its protocol, its transport, and what it was sent, line by line. */
function join(room: ChatFactory, port: number) {
  const p = room.buildProtocol(new IPv4Address('TCP', '127.0.0.1', port))!;
  const t = new StringTransportWithDisconnection();
  t.protocol = p;
  p.makeConnection(t);
  return {
    p,
    t,
    type: (text: string) => p.dataReceived(Buffer.from(text, 'utf8')),
    heard: () => {
      const lines = t.value().toString('utf8').split('\r\n').slice(0, -1);
      t.clear();
      return lines;
    },
  };
}

describe('line chat (examples/line-chat.js logic)', () => {
  it('asks for a name, welcomes, and announces arrivals', () => {
    const room = new ChatFactory();
    const ann = join(room, 1);
    expect(ann.heard()).toEqual(["What's your name?"]);
    ann.type('ann\r\n');
    expect(ann.heard()).toEqual(['Welcome, ann! You are alone. /quit leaves.']);
    const bob = join(room, 2);
    bob.type('bob\r\n');
    expect(bob.heard()).toEqual(["What's your name?", 'Welcome, bob! Here: ann. /quit leaves.']);
    expect(ann.heard()).toEqual(['* bob has joined']);
  });

  it('refuses taken and malformed names', () => {
    const room = new ChatFactory();
    join(room, 1).type('ann\r\n');
    const other = join(room, 2);
    other.heard();
    other.type('ann\r\n\r\nthis name is far too long to be accepted\r\nann2\r\n');
    expect(other.heard()).toEqual([
      'Name taken, please choose another.',
      'Names are 1 to 20 letters, digits, _ . or -. Try again:',
      'Names are 1 to 20 letters, digits, _ . or -. Try again:',
      'Welcome, ann2! Here: ann. /quit leaves.',
    ]);
  });

  it('broadcasts messages to everybody else, however the bytes were split', () => {
    const input = 'ann\r\nhello, room\r\n\r\n  spaced  \r\nnaïve café\r\n';
    for (const { name, chunks } of chunkings(Buffer.from(input, 'utf8'))) {
      const room = new ChatFactory();
      const bob = join(room, 1);
      bob.type('bob\r\n');
      bob.heard();
      const ann = join(room, 2);
      for (const c of chunks) ann.p.dataReceived(c);
      expect(bob.heard(), name).toEqual(['* ann has joined', '<ann> hello, room', '<ann> spaced', '<ann> naïve café']);
      expect(ann.heard(), name).toEqual(["What's your name?", 'Welcome, ann! Here: bob. /quit leaves.']);
    }
  });

  it('/quit says bye, closes, and tells the others; nothing typed after it is sent', () => {
    for (const { name, chunks } of chunkings('ann\r\n/quit\r\nstill here?\r\n')) {
      const room = new ChatFactory();
      const bob = join(room, 1);
      bob.type('bob\r\n');
      bob.heard();
      const ann = join(room, 2);
      for (const c of chunks) ann.p.dataReceived(c);
      expect(ann.heard().slice(-1), name).toEqual(['Bye!']);
      expect(ann.t.disconnecting, name).toBe(true);
      expect(bob.heard(), name).toEqual(['* ann has joined', '* ann has left']);
      expect([...room.users.keys()], name).toEqual(['bob']);
    }
  });

  it('a user who leaves before choosing a name is not announced', () => {
    const room = new ChatFactory();
    const bob = join(room, 1);
    bob.type('bob\r\n');
    bob.heard();
    const shy = join(room, 2);
    shy.t.loseConnection();
    expect(bob.heard()).toEqual([]);
  });

  it('a line over MAX_LENGTH closes the connection', () => {
    const room = new ChatFactory();
    const ann = join(room, 1);
    ann.type('ann\r\n');
    ann.type('x'.repeat(1030));
    expect(ann.t.disconnecting).toBe(true);
    expect(room.users.size).toBe(0);
  });
});
