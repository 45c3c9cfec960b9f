// Proxy headers: honoured from trusted peers only, field by field.
import { describe, expect, it } from 'vitest';
import { HeaderList } from '../../src/http/headers.js';
import { IPv4Address, IPv6Address, UNIXAddress, type Address } from '../../src/reactor/address.js';
import { TrustedProxies, connectionEnds } from '../../src/channels/server/proxy.js';

const HOST = new IPv4Address('TCP', '10.0.0.1', 8000);

function fields(pairs: Array<[string, string]>): HeaderList {
  return new HeaderList(pairs.flat());
}

describe('TrustedProxies', () => {
  it.each([
    [['127.0.0.1'], '127.0.0.1', true],
    [['127.0.0.1'], '::ffff:127.0.0.1', true],
    [['127.0.0.1'], '127.0.0.2', false],
    [['10.0.0.0/8'], '10.200.3.4', true],
    [['10.0.0.0/8'], '11.0.0.1', false],
    [['192.168.1.0/24'], '192.168.1.255', true],
    [['::1'], '::1', true],
    [['::1'], '0:0:0:0:0:0:0:1', false],
    [['unix'], null, true],
    [['127.0.0.1'], null, false],
    [['*'], '203.0.113.5', true],
    [[], '127.0.0.1', false],
  ])('%j trusts %s: %s', (entries, host, expected) => {
    expect(new TrustedProxies(entries).trusts(host)).toBe(expected);
  });

  it.each([['localhost'], ['10.0.0.0/33'], ['fe80::/10'], ['']])('refuses %j', (entry) => {
    expect(() => new TrustedProxies([entry])).toThrow(TypeError);
  });
});

describe('connectionEnds', () => {
  const proxy = new IPv4Address('TCP', '127.0.0.1', 40000);
  const trusted = new TrustedProxies(['127.0.0.1', '10.0.0.0/8']);

  it.each<[string, Address, Array<[string, string]>, TrustedProxies | null, object]>([
    ['no proxies configured', proxy, [['X-Forwarded-For', '1.2.3.4']], null, { client: ['127.0.0.1', 40000], server: ['10.0.0.1', 8000], secure: false }],
    ['an untrusted peer', new IPv4Address('TCP', '8.8.8.8', 1), [['X-Forwarded-For', '1.2.3.4']], trusted, { client: ['8.8.8.8', 1] }],
    ['one hop', proxy, [['X-Forwarded-For', '1.2.3.4']], trusted, { client: ['1.2.3.4', 0] }],
    ['the nearest untrusted hop', proxy, [['X-Forwarded-For', '6.6.6.6, 1.2.3.4, 10.1.1.1']], trusted, { client: ['1.2.3.4', 0] }],
    ['hops over repeated fields', proxy, [['X-Forwarded-For', '6.6.6.6'], ['X-Forwarded-For', '1.2.3.4']], trusted, { client: ['1.2.3.4', 0] }],
    ['all hops trusted', proxy, [['X-Forwarded-For', '10.0.0.5, 10.0.0.6']], trusted, { client: ['10.0.0.5', 0] }],
    ['IPv4 with a port, IPv6 in brackets', proxy, [['X-Forwarded-For', '[2001:db8::1]:443, 1.2.3.4:5678']], trusted, { client: ['1.2.3.4', 0] }],
    ['a bare IPv6 hop', proxy, [['X-Forwarded-For', '2001:db8::1']], trusted, { client: ['2001:db8::1', 0] }],
    ['a malformed hop: ignored', proxy, [['X-Forwarded-For', 'unknown, 1.2.3.4']], trusted, { client: ['127.0.0.1', 40000] }],
    ['proto https', proxy, [['X-Forwarded-Proto', 'https']], trusted, { secure: true }],
    ['proto wss, last value wins', proxy, [['X-Forwarded-Proto', 'http, wss']], trusted, { secure: true }],
    ['proto http on TLS', proxy, [['X-Forwarded-Proto', 'http']], trusted, { secure: false }],
    ['a bogus proto', proxy, [['X-Forwarded-Proto', 'gopher']], trusted, { secure: false }],
    ['port', proxy, [['X-Forwarded-Port', '443']], trusted, { server: ['10.0.0.1', 443] }],
    ['a bad port', proxy, [['X-Forwarded-Port', '99999']], trusted, { server: ['10.0.0.1', 8000] }],
  ])('%s', (_name, peer, pairs, proxies, expected) => {
    expect(connectionEnds(peer, HOST, false, fields(pairs), proxies)).toMatchObject(expected);
  });

  it('a UNIX socket: no client address; the socket path as the server; trusted with "unix"', () => {
    const sock = new UNIXAddress('/run/app.sock');
    expect(connectionEnds(new UNIXAddress(null), sock, false, fields([]), null)).toEqual({ client: null, server: ['/run/app.sock', null], secure: false });
    const ends = connectionEnds(new UNIXAddress(null), sock, false, fields([['X-Forwarded-For', '1.2.3.4']]), new TrustedProxies(['unix']));
    expect(ends.client).toEqual(['1.2.3.4', 0]);
  });

  it('IPv6 peers and IPv4-mapped addresses', () => {
    const ends = connectionEnds(new IPv6Address('TCP', '::ffff:192.0.2.7', 5000), new IPv6Address('TCP', '::1', 8000), true, fields([]), null);
    expect(ends).toEqual({ client: ['192.0.2.7', 5000], server: ['::1', 8000], secure: true });
  });
});
