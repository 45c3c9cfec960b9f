/**
 * Plain-object protocols and factories for the test-kit and endpoint tests
 * (the protocol layer's classes are not used, so these tests stand alone).
 */
import type { Failure } from '../../src/defer/failure.js';
import type { Address } from '../../src/reactor/address.js';
import type { IClientFactory, IConnector, IProtocol, ITransport } from '../../src/reactor/interfaces.js';

/** What a recording protocol saw. */
export interface Recorder extends IProtocol {
  events: string[];
  received: Buffer[];
  lost: Failure | null;
  made: number;
  text(): string;
}

/** Records every callback; `half` adds readConnectionLost/writeConnectionLost. */
export function recorder(options: { half?: boolean; onMade?: (t: ITransport) => void } = {}): Recorder {
  const p: Recorder = {
    transport: null,
    events: [],
    received: [],
    lost: null,
    made: 0,
    connectionMade() {
      p.made++;
      p.events.push('made');
      options.onMade?.(p.transport!);
    },
    dataReceived(data: Uint8Array) {
      p.received.push(Buffer.from(data));
      p.events.push('data');
    },
    connectionLost(reason: Failure) {
      p.lost = reason;
      p.events.push(`lost:${reason.value.name}`);
    },
    text() {
      return Buffer.concat(p.received).toString('latin1');
    },
  };
  if (options.half === true) {
    p.readConnectionLost = () => p.events.push('readLost');
    p.writeConnectionLost = () => p.events.push('writeLost');
  }
  return p;
}

/** Writes back whatever it receives. */
export function echo(): Recorder {
  const p = recorder();
  const record = p.dataReceived!;
  p.dataReceived = (data) => {
    record(data);
    p.transport!.write(data);
  };
  return p;
}

/** A CRLF line protocol: collects `lines`, `sendLine` writes one; `greeting` is sent on connect. */
export interface LineClient extends Recorder {
  lines: string[];
  sendLine(line: string): void;
}

export function lineClient(greeting: string | null = 'ping'): LineClient {
  let buffer = '';
  const base = recorder();
  const p = base as LineClient;
  p.lines = [];
  p.sendLine = (line) => p.transport!.write(Buffer.from(`${line}\r\n`, 'latin1'));
  const made = base.connectionMade!;
  p.connectionMade = () => {
    made();
    if (greeting !== null) p.sendLine(greeting);
  };
  const record = base.dataReceived!;
  p.dataReceived = (data) => {
    record(data);
    buffer += Buffer.from(data).toString('latin1');
    let i: number;
    while ((i = buffer.indexOf('\r\n')) !== -1) {
      p.lines.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 2);
    }
  };
  return p;
}

/** A client factory recording its callbacks and the protocols it built. */
export interface RecordingFactory<P extends IProtocol> extends IClientFactory {
  built: P[];
  addresses: Address[];
  events: string[];
  connectors: IConnector[];
  failures: Failure[];
  lostReasons: Failure[];
  buildProtocol(addr: Address): P | null;
}

export function factoryOf<P extends IProtocol>(make: () => P | null): RecordingFactory<P> {
  const f: RecordingFactory<P> = {
    built: [],
    addresses: [],
    events: [],
    connectors: [],
    failures: [],
    lostReasons: [],
    buildProtocol(addr: Address) {
      f.addresses.push(addr);
      const p = make();
      if (p !== null) f.built.push(p);
      f.events.push('build');
      return p;
    },
    doStart() {
      f.events.push('doStart');
    },
    doStop() {
      f.events.push('doStop');
    },
    startedConnecting(c: IConnector) {
      f.connectors.push(c);
      f.events.push('startedConnecting');
    },
    clientConnectionFailed(_c: IConnector, reason: Failure) {
      f.failures.push(reason);
      f.events.push(`failed:${reason.value.name}`);
    },
    clientConnectionLost(_c: IConnector, reason: Failure) {
      f.lostReasons.push(reason);
      f.events.push(`lost:${reason.value.name}`);
    },
  };
  return f;
}
