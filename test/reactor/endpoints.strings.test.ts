import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFromString, registerClientParser } from '../../src/reactor/endpoints/client.js';
import { HostnameEndpoint } from '../../src/reactor/endpoints/hostname.js';
import { EndpointDescriptionError, quoteStringArgument } from '../../src/reactor/endpoints/parse.js';
import { registerServerParser, serverFromString } from '../../src/reactor/endpoints/server.js';
import {
  SSL4ClientEndpoint,
  SSL4ServerEndpoint,
  TCP4ClientEndpoint,
  TCP4ServerEndpoint,
  TCP6ServerEndpoint,
  UNIXClientEndpoint,
  UNIXServerEndpoint,
} from '../../src/reactor/endpoints/tcp.js';
import type { IStreamClientEndpoint, IStreamServerEndpoint } from '../../src/reactor/interfaces.js';
import { MemoryReactorClock } from '../../src/testing/memoryReactor.js';
import { failureResultOf, successResultOf } from '../../src/testing/results.js';
import { factoryOf, recorder } from '../testing/protocols.js';

let dir = '';
const file = (name: string): string => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'spindle-endpoints-'));
  writeFileSync(file('key.pem'), 'KEY\n');
  writeFileSync(file('cert.pem'), 'CERT\n');
  writeFileSync(file('both.pem'), 'KEY+CERT\n');
  writeFileSync(file('chain.pem'), 'CHAIN\n');
  writeFileSync(file('ca.pem'), 'CA\n');
  mkdirSync(file('cas'));
  writeFileSync(file('cas/b.pem'), 'CA-B\n');
  writeFileSync(file('cas/a.PEM'), 'CA-A\n');
  writeFileSync(file('cas/readme.txt'), 'not a certificate\n');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('serverFromString', () => {
  const cases: Array<{
    description: string | (() => string);
    type: new (...args: never[]) => IStreamServerEndpoint;
    list: 'tcpServers' | 'unixServers' | 'sslServers';
    record: Record<string, unknown>;
  }> = [
    {
      description: 'tcp:8080:interface=127.0.0.1',
      type: TCP4ServerEndpoint,
      list: 'tcpServers',
      record: { port: 8080, backlog: 50, interface: '127.0.0.1' },
    },
    { description: 'tcp:80', type: TCP4ServerEndpoint, list: 'tcpServers', record: { port: 80, backlog: 50, interface: '' } },
    { description: 'TCP:0:backlog=10', type: TCP4ServerEndpoint, list: 'tcpServers', record: { port: 0, backlog: 10, interface: '' } },
    {
      description: 'tcp:8080:127.0.0.1:5',
      type: TCP4ServerEndpoint,
      list: 'tcpServers',
      record: { port: 8080, backlog: 5, interface: '127.0.0.1' },
    },
    { description: 'tcp6:8080', type: TCP6ServerEndpoint, list: 'tcpServers', record: { port: 8080, backlog: 50, interface: '::' } },
    {
      description: 'tcp6:8080:interface=\\:\\:1',
      type: TCP6ServerEndpoint,
      list: 'tcpServers',
      record: { port: 8080, backlog: 50, interface: '::1' },
    },
    {
      description: 'unix:/var/run/finger',
      type: UNIXServerEndpoint,
      list: 'unixServers',
      record: { path: '/var/run/finger', backlog: 50, mode: 0o666 },
    },
    {
      description: 'unix:/var/run/finger:mode=660:lockfile=0',
      type: UNIXServerEndpoint,
      list: 'unixServers',
      record: { path: '/var/run/finger', backlog: 50, mode: 0o660 },
    },
    {
      description: 'unix:path=/tmp/a.sock:backlog=5',
      type: UNIXServerEndpoint,
      list: 'unixServers',
      record: { path: '/tmp/a.sock', backlog: 5, mode: 0o666 },
    },
    {
      description: () => `ssl:443:privateKey=${quoteStringArgument(file('key.pem'))}:certKey=${quoteStringArgument(file('cert.pem'))}`,
      type: SSL4ServerEndpoint,
      list: 'sslServers',
      record: { port: 443, backlog: 50, interface: '', tls: { key: 'KEY\n', cert: 'CERT\n' } },
    },
    {
      description: () => `tls:8443:privateKey=${quoteStringArgument(file('both.pem'))}:interface=127.0.0.1`,
      type: SSL4ServerEndpoint,
      list: 'sslServers',
      record: { port: 8443, backlog: 50, interface: '127.0.0.1', tls: { key: 'KEY+CERT\n', cert: 'KEY+CERT\n' } },
    },
    {
      description: () =>
        `ssl:443:privateKey=${quoteStringArgument(file('key.pem'))}:certKey=${quoteStringArgument(file('cert.pem'))}` +
        `:extraCertChain=${quoteStringArgument(file('chain.pem'))}`,
      type: SSL4ServerEndpoint,
      list: 'sslServers',
      record: { port: 443, backlog: 50, interface: '', tls: { key: 'KEY\n', cert: 'CERT\nCHAIN\n' } },
    },
  ];
  it.each(cases)('$description', ({ description, type, list, record }) => {
    const reactor = new MemoryReactorClock();
    const endpoint = serverFromString(reactor, typeof description === 'function' ? description() : description);
    expect(endpoint).toBeInstanceOf(type);
    const factory = factoryOf(() => recorder());
    const port = successResultOf(endpoint.listen(factory));
    expect(port).toBe(reactor.listeningPorts[0]);
    expect(reactor[list]).toEqual([{ ...record, factory }]);
  });

  it('reads the PEM files at listen time: a missing one fails listen, not the parse', () => {
    const reactor = new MemoryReactorClock();
    const endpoint = serverFromString(reactor, `ssl:443:privateKey=${quoteStringArgument(file('missing.pem'))}`);
    const f = failureResultOf(endpoint.listen(factoryOf(() => null)), EndpointDescriptionError);
    expect(f.value.message).toMatch(/privateKey|certKey/);
    expect(f.value.message).toContain('missing.pem');
    expect(reactor.sslServers).toEqual([]);
  });

  it.each([
    ['foo:80', /unknown server endpoint type 'foo'.*known: .*tcp/],
    ['', /unknown server endpoint type ''/],
    ['tcp', /missing 'port'/],
    ['tcp:http', /port must be a port number/],
    ['tcp:70000', /port must be a port number/],
    ['tcp:-1', /port must be a port number/],
    ['tcp:80:bogus=1', /unknown argument 'bogus'/],
    ['tcp:80:backlog=x', /backlog must be a whole number/],
    ['tcp:80:backlog=0', /backlog must be a whole number >= 1/],
    ['tcp:80:a:1:extra', /at most 3 positional/],
    ['unix:/x:mode=999', /mode must be an octal mode/],
    ['unix:/x:lockfile=maybe', /lockfile must be 0 or 1/],
    ['unix:path=/x:address=/y', /not both/],
    ['unix', /missing 'address'/],
    ['ssl:443:sslmethod=TLSv1_METHOD', /sslmethod is not supported/],
    ['ssl:443:dhParameters=dh.pem', /dhParameters is not supported/],
    ['tcp:80\\', /escaping backslash/],
  ])('%j is refused: %s', (description, message) => {
    const reactor = new MemoryReactorClock();
    expect(() => serverFromString(reactor, description)).toThrow(EndpointDescriptionError);
    expect(() => serverFromString(reactor, description)).toThrow(message);
  });

  it('registers parsers for new prefixes (case-insensitive), and removes them', () => {
    const reactor = new MemoryReactorClock();
    const seen: unknown[] = [];
    const made = new TCP4ServerEndpoint(reactor, 1);
    const unregister = registerServerParser('MemTest', (r, args, kwargs, description) => {
      seen.push(r, args, kwargs, description);
      return made;
    });
    expect(serverFromString(reactor, 'memtest:a:k=v')).toBe(made);
    expect(seen).toEqual([reactor, ['a'], { k: 'v' }, 'memtest:a:k=v']);
    expect(() => registerServerParser('memtest', () => made)).toThrow(/already registered/);
    expect(() => registerServerParser('tcp', () => made)).toThrow(/already registered/);
    expect(() => registerServerParser('bad prefix', () => made)).toThrow(TypeError);
    unregister();
    expect(() => serverFromString(reactor, 'memtest:a')).toThrow(/unknown server endpoint type/);
  });
});

describe('clientFromString', () => {
  const cases: Array<{
    description: string | (() => string);
    type: new (...args: never[]) => IStreamClientEndpoint;
    list: 'tcpClients' | 'unixClients' | 'sslClients';
    record: Record<string, unknown>;
  }> = [
    {
      description: 'tcp:host=example.com:port=80:timeout=5',
      type: TCP4ClientEndpoint,
      list: 'tcpClients',
      record: { host: 'example.com', port: 80, timeout: 5, bindAddress: null },
    },
    {
      description: 'tcp:host=127.0.0.1:port=6379',
      type: TCP4ClientEndpoint,
      list: 'tcpClients',
      record: { host: '127.0.0.1', port: 6379, timeout: 30, bindAddress: null },
    },
    {
      description: 'tcp:example.com:80',
      type: TCP4ClientEndpoint,
      list: 'tcpClients',
      record: { host: 'example.com', port: 80, timeout: 30, bindAddress: null },
    },
    {
      description: 'tcp:host=example.com:80',
      type: TCP4ClientEndpoint,
      list: 'tcpClients',
      record: { host: 'example.com', port: 80, timeout: 30, bindAddress: null },
    },
    {
      description: 'tcp:example.com:port=80:timeout=2.5',
      type: TCP4ClientEndpoint,
      list: 'tcpClients',
      record: { host: 'example.com', port: 80, timeout: 2.5, bindAddress: null },
    },
    {
      description: 'tcp:h:80:bindAddress=10.0.0.2',
      type: TCP4ClientEndpoint,
      list: 'tcpClients',
      record: { host: 'h', port: 80, timeout: 30, bindAddress: { host: '10.0.0.2', port: 0 } },
    },
    {
      description: 'tcp:\\:\\:1:80',
      type: TCP4ClientEndpoint,
      list: 'tcpClients',
      record: { host: '::1', port: 80, timeout: 30, bindAddress: null },
    },
    {
      description: 'unix:path=/var/foo/bar:lockfile=1:timeout=9',
      type: UNIXClientEndpoint,
      list: 'unixClients',
      record: { path: '/var/foo/bar', timeout: 9 },
    },
    { description: 'unix:/var/foo/bar', type: UNIXClientEndpoint, list: 'unixClients', record: { path: '/var/foo/bar', timeout: 30 } },
    {
      description: 'ssl:host=example.com:port=443',
      type: SSL4ClientEndpoint,
      list: 'sslClients',
      record: {
        host: 'example.com',
        port: 443,
        timeout: 30,
        bindAddress: null,
        tls: { rejectUnauthorized: true, servername: 'example.com' },
      },
    },
    {
      description: 'ssl:127.0.0.1:443:hostname=db.internal:timeout=3',
      type: SSL4ClientEndpoint,
      list: 'sslClients',
      record: {
        host: '127.0.0.1',
        port: 443,
        timeout: 3,
        bindAddress: null,
        tls: { rejectUnauthorized: true, servername: 'db.internal' },
      },
    },
    {
      description: () =>
        `ssl:127.0.0.1:443:caCertsDir=${quoteStringArgument(file('cas'))}:ca=${quoteStringArgument(file('ca.pem'))}` +
        `:certKey=${quoteStringArgument(file('cert.pem'))}:privateKey=${quoteStringArgument(file('key.pem'))}`,
      type: SSL4ClientEndpoint,
      list: 'sslClients',
      record: {
        host: '127.0.0.1',
        port: 443,
        timeout: 30,
        bindAddress: null,
        tls: { rejectUnauthorized: true, ca: ['CA-A\n', 'CA-B\n', 'CA\n'], cert: 'CERT\n', key: 'KEY\n' },
      },
    },
    {
      description: () => `ssl:127.0.0.1:443:certKey=${quoteStringArgument(file('both.pem'))}`,
      type: SSL4ClientEndpoint,
      list: 'sslClients',
      record: {
        host: '127.0.0.1',
        port: 443,
        timeout: 30,
        bindAddress: null,
        tls: { rejectUnauthorized: true, cert: 'KEY+CERT\n', key: 'KEY+CERT\n' },
      },
    },
    {
      // An address literal resolves without asking the system resolver.
      description: () => `tls:127.0.0.1:443:timeout=4:ca=${quoteStringArgument(file('ca.pem'))}`,
      type: HostnameEndpoint,
      list: 'sslClients',
      record: { host: '127.0.0.1', port: 443, timeout: 4, bindAddress: null, tls: { rejectUnauthorized: true, ca: ['CA\n'] } },
    },
  ];
  it.each(cases)('$description', ({ description, type, list, record }) => {
    const reactor = new MemoryReactorClock();
    const endpoint = clientFromString(reactor, typeof description === 'function' ? description() : description);
    expect(endpoint).toBeInstanceOf(type);
    const factory = factoryOf(() => recorder());
    const d = endpoint.connect(factory);
    expect(reactor[list]).toHaveLength(1);
    expect(reactor[list][0]).toMatchObject(record);
    // toMatchObject allows extra keys: the TLS options must be exactly these.
    const recorded = reactor[list][0] as { tls?: object };
    expect(recorded.tls ?? null).toEqual((record.tls as object | undefined) ?? null);
    d.cancel();
    failureResultOf(d);
  });

  it('tls: builds a verifying HostnameEndpoint for the name', () => {
    const reactor = new MemoryReactorClock();
    const endpoint = clientFromString(reactor, 'tls:example.com:443:bindAddress=10.0.0.2') as HostnameEndpoint;
    expect(endpoint).toBeInstanceOf(HostnameEndpoint);
    expect([endpoint.host, endpoint.port, endpoint.timeout, endpoint.bindAddress]).toEqual([
      'example.com',
      443,
      30,
      { host: '10.0.0.2', port: 0 },
    ]);
    expect(typeof endpoint.tls).toBe('function');
    expect((endpoint.tls as () => object)()).toEqual({ rejectUnauthorized: true });
  });

  it('reads certificate files at connect time: a missing one fails connect', () => {
    const reactor = new MemoryReactorClock();
    const endpoint = clientFromString(reactor, `ssl:h:443:ca=${quoteStringArgument(file('nope.pem'))}`);
    const f = failureResultOf(endpoint.connect(factoryOf(() => null)), EndpointDescriptionError);
    expect(f.value.message).toContain('nope.pem');
    expect(reactor.sslClients).toEqual([]);
  });

  it.each([
    ['bogus:1', /unknown client endpoint type 'bogus'/],
    ['tcp:host=a', /missing 'port'/],
    ['tcp:a', /missing 'port'/],
    ['tcp:a:b:c', /at most 2 positional/],
    ['tcp:host=a:port=1:2', /'port' is given twice/],
    ['tcp:a:1:timeout=-1', /timeout must be a number of seconds/],
    ['tcp:a:1:timeout=0', /timeout must be a number of seconds/],
    ['tcp:a:99999', /port must be a port number/],
    ['ssl:a:1:privateKey=k.pem', /privateKey needs certKey/],
    ['tls:a:1:privateKey=k.pem', /privateKey needs certificate/],
    ['tls:a:1:endpoint=tcp\\:x\\:1', /unknown argument 'endpoint'/],
    ['unix:timeout=3', /missing 'path'/],
  ])('%j is refused: %s', (description, message) => {
    const reactor = new MemoryReactorClock();
    expect(() => clientFromString(reactor, description)).toThrow(EndpointDescriptionError);
    expect(() => clientFromString(reactor, description)).toThrow(message);
  });

  it('registers parsers for new prefixes, and removes them', () => {
    const reactor = new MemoryReactorClock();
    const made = new TCP4ClientEndpoint(reactor, 'h', 1);
    const unregister = registerClientParser('memtest', (_r, args) => {
      expect(args).toEqual(['x']);
      return made;
    });
    expect(clientFromString(reactor, 'memtest:x')).toBe(made);
    expect(() => registerClientParser('ssl', () => made)).toThrow(/already registered/);
    unregister();
    expect(() => clientFromString(reactor, 'memtest:x')).toThrow(/unknown client endpoint type/);
  });
});
