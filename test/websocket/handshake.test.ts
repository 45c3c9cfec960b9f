import { describe, expect, it } from 'vitest';
import {
  WebSocketHandshakeError,
  acceptPerMessageDeflateResponse,
  acceptUpgrade,
  computeAcceptKey,
  createClientHandshake,
  deflateConfigFor,
  formatPerMessageDeflateOffer,
  generateKey,
  isValidKey,
  negotiatePerMessageDeflate,
  parseExtensions,
  parseTokenList,
  selectSubprotocol,
  validateServerResponse,
  validateUpgradeRequest,
  type HeaderList,
} from '../../src/websocket/index.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function request(overrides: Record<string, string | string[] | null> = {}, method = 'GET', httpVersion = '1.1') {
  const base: Record<string, string | string[] | null> = {
    host: 'server.example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': KEY,
    'sec-websocket-version': '13',
    ...overrides,
  };
  const headers: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(base)) {
    if (v === null) continue;
    for (const one of Array.isArray(v) ? v : [v]) headers.push([k, one]);
  }
  return { method, httpVersion, headers };
}

describe('server: validateUpgradeRequest', () => {
  it('accepts the RFC 6455 §1.3 example and computes its accept key', () => {
    const r = validateUpgradeRequest(request({ 'sec-websocket-protocol': 'chat, superchat', origin: 'http://example.com' }));
    expect(r).toEqual({ ok: true, offer: { key: KEY, protocols: ['chat', 'superchat'], extensions: [] } });
    expect(computeAcceptKey(KEY)).toBe(ACCEPT);
  });

  const ok: Array<[string, Record<string, string | string[] | null>]> = [
    ['case-insensitive tokens', { upgrade: 'WebSocket', connection: 'keep-alive, UPGRADE' }],
    ['tokens split over repeated headers', { connection: ['keep-alive', 'Upgrade'], upgrade: ['h2c', ' websocket '] }],
    ['OWS around the key and version', { 'sec-websocket-key': ` ${KEY}\t`, 'sec-websocket-version': ' 13 ' }],
    ['empty list elements', { 'sec-websocket-protocol': ', chat,, superchat ,' }],
  ];
  for (const [name, o] of ok) it(`accepts ${name}`, () => expect(validateUpgradeRequest(request(o)).ok).toBe(true));

  const bad: Array<[string, Record<string, string | string[] | null>, number, string?, string?]> = [
    ['POST', {}, 400, 'POST'],
    ['HTTP/1.0', {}, 400, 'GET', '1.0'],
    ['no Host', { host: null }, 400],
    ['two Hosts', { host: ['a', 'b'] }, 400],
    ['no Upgrade', { upgrade: null }, 400],
    ['Upgrade without websocket', { upgrade: 'h2c' }, 400],
    ['Upgrade: websockets', { upgrade: 'websockets' }, 400],
    ['no Connection upgrade', { connection: 'keep-alive' }, 400],
    ['no version', { 'sec-websocket-version': null }, 426],
    ['version 8', { 'sec-websocket-version': '8' }, 426],
    ['version 13, 8', { 'sec-websocket-version': '13, 8' }, 426],
    ['two versions', { 'sec-websocket-version': ['13', '13'] }, 426],
    ['no key', { 'sec-websocket-key': null }, 400],
    ['two keys', { 'sec-websocket-key': [KEY, KEY] }, 400],
    ['key of 15 bytes', { 'sec-websocket-key': Buffer.alloc(15).toString('base64') }, 400],
    ['key of 17 bytes', { 'sec-websocket-key': Buffer.alloc(17).toString('base64') }, 400],
    ['key with stray bits', { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZR==' }, 400],
    ['key without padding', { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ' }, 400],
    ['key with bad char', { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25j-Q==' }, 400],
    ['bad protocol token', { 'sec-websocket-protocol': 'chat; v=1' }, 400],
    ['protocols without comma', { 'sec-websocket-protocol': 'chat superchat' }, 400],
    ['duplicate protocol', { 'sec-websocket-protocol': 'chat, chat' }, 400],
    ['bad extensions', { 'sec-websocket-extensions': 'permessage-deflate; =1' }, 400],
  ];
  for (const [name, o, status, method, version] of bad) {
    it(`rejects ${name} with ${status}`, () => {
      const r = validateUpgradeRequest(request(o, method, version));
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.status).toBe(status);
        expect(r.reason.length).toBeGreaterThan(0);
        expect(r.headers).toEqual(status === 426 ? [['Sec-WebSocket-Version', '13']] : []);
      }
    });
  }

  it('isValidKey accepts generated keys', () => {
    for (let i = 0; i < 100; i++) expect(isValidKey(generateKey())).toBe(true);
  });

  it('tokenizes pathological input in linear time (no regex backtracking)', () => {
    const evil = 'b' + ' '.repeat(200000) + 'x';
    const t = performance.now();
    expect(parseTokenList([evil], [])).toBe(false);
    expect(parseExtensions([evil])).toBe(null);
    expect(performance.now() - t).toBeLessThan(1000);
  });
});

describe('server: subprotocols and acceptUpgrade', () => {
  it('selects in the client preference order, or via a callback', () => {
    expect(selectSubprotocol(['b', 'a'], ['a', 'b'])).toBe('b');
    expect(selectSubprotocol(['c'], ['a'])).toBe(null);
    expect(selectSubprotocol(['x', 'y'], (o) => o[1]!)).toBe('y');
    expect(() => selectSubprotocol(['x'], () => 'z')).toThrow(TypeError);
  });

  it('builds the 101 response', () => {
    const r = acceptUpgrade(request({ 'sec-websocket-protocol': 'chat, superchat', 'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits' }), {
      protocols: ['superchat', 'chat'],
      perMessageDeflate: true,
    });
    expect(r).toEqual({
      ok: true,
      status: 101,
      headers: [
        ['Upgrade', 'websocket'],
        ['Connection', 'Upgrade'],
        ['Sec-WebSocket-Accept', ACCEPT],
        ['Sec-WebSocket-Protocol', 'chat'],
        ['Sec-WebSocket-Extensions', 'permessage-deflate'],
      ],
      protocol: 'chat',
      perMessageDeflate: { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
    });
  });

  it('ignores extensions unless deflate is enabled; passes rejections through', () => {
    const r = acceptUpgrade(request({ 'sec-websocket-extensions': 'permessage-deflate' }));
    expect(r.ok && r.perMessageDeflate).toBe(null);
    expect(acceptUpgrade(request({ 'sec-websocket-version': '7' })).status).toBe(426);
  });
});

describe('Sec-WebSocket-Extensions parsing (RFC 6455 §9.1, RFC 7692)', () => {
  const cases: Array<[string, unknown]> = [
    ['permessage-deflate', [{ name: 'permessage-deflate', params: [] }]],
    ['permessage-deflate; client_max_window_bits', [{ name: 'permessage-deflate', params: [{ name: 'client_max_window_bits', value: null }] }]],
    ['Permessage-Deflate ;Server_Max_Window_Bits = 10 ', [{ name: 'permessage-deflate', params: [{ name: 'server_max_window_bits', value: '10' }] }]],
    ['permessage-deflate; server_max_window_bits="10"', [{ name: 'permessage-deflate', params: [{ name: 'server_max_window_bits', value: '10' }] }]],
    ['permessage-deflate; x="a\\b"', [{ name: 'permessage-deflate', params: [{ name: 'x', value: 'ab' }] }]],
    ['a, b; c, ,d', [{ name: 'a', params: [] }, { name: 'b', params: [{ name: 'c', value: null }] }, { name: 'd', params: [] }]],
    ['constructor; __proto__=1', [{ name: 'constructor', params: [{ name: '__proto__', value: '1' }] }]],
    ['', []],
    ['permessage-deflate;', null],
    ['permessage-deflate; a=', null],
    ['permessage-deflate; a="b c"', null],
    ['permessage-deflate; a=""', null],
    ['permessage-deflate; a="b', null],
    ['permessage-deflate a', null],
    ['permessage-deflate; a=b c', null],
    ['per message', null],
    [';a', null],
  ];
  for (const [input, expected] of cases) {
    it(JSON.stringify(input), () => expect(parseExtensions([input])).toEqual(expected));
  }
  it('combines repeated header fields in order', () => {
    expect(parseExtensions(['a', 'b'])!.map((e) => e.name)).toEqual(['a', 'b']);
  });
});

describe('permessage-deflate negotiation: server (RFC 7692 §7.1, Autobahn 12/13 offers)', () => {
  const params = (s = false, c = false, sb = 15, cb = 15) => ({ serverNoContextTakeover: s, clientNoContextTakeover: c, serverMaxWindowBits: sb, clientMaxWindowBits: cb });
  const cases: Array<[string, string, object, [string, ReturnType<typeof params>] | null]> = [
    ['12.x default offer', 'permessage-deflate; client_max_window_bits', {}, ['permessage-deflate', params()]],
    ['13.1 plain', 'permessage-deflate', {}, ['permessage-deflate', params()]],
    ['13.2 server no context takeover', 'permessage-deflate; server_no_context_takeover', {}, ['permessage-deflate; server_no_context_takeover', params(true)]],
    ['13.3 server window 8 is declined (zlib)', 'permessage-deflate; server_max_window_bits=8', {}, null],
    ['13.4 server window 15', 'permessage-deflate; server_max_window_bits=15', {}, ['permessage-deflate; server_max_window_bits=15', params(false, false, 15)]],
    ['13.6 takeover + window 15', 'permessage-deflate; server_no_context_takeover; server_max_window_bits=15', {}, ['permessage-deflate; server_no_context_takeover; server_max_window_bits=15', params(true, false, 15)]],
    [
      '13.7 first acceptable of several offers',
      'permessage-deflate; server_no_context_takeover; server_max_window_bits=8, permessage-deflate; server_no_context_takeover, permessage-deflate',
      {},
      ['permessage-deflate; server_no_context_takeover', params(true)],
    ],
    ['server window 9 offered', 'permessage-deflate; server_max_window_bits=9', {}, ['permessage-deflate; server_max_window_bits=9', params(false, false, 9)]],
    ['server caps its own window', 'permessage-deflate', { serverMaxWindowBits: 10 }, ['permessage-deflate; server_max_window_bits=10', params(false, false, 10)]],
    ['min of offer and cap', 'permessage-deflate; server_max_window_bits=12', { serverMaxWindowBits: 10 }, ['permessage-deflate; server_max_window_bits=10', params(false, false, 10)]],
    ['server asks client no takeover', 'permessage-deflate', { clientNoContextTakeover: true }, ['permessage-deflate; client_no_context_takeover', params(false, true)]],
    ['client hint no takeover', 'permessage-deflate; client_no_context_takeover', {}, ['permessage-deflate; client_no_context_takeover', params(false, true)]],
    ['client window cap', 'permessage-deflate; client_max_window_bits', { clientMaxWindowBits: 10 }, ['permessage-deflate; client_max_window_bits=10', params(false, false, 15, 10)]],
    ['client window cap vs offered value', 'permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 12 }, ['permessage-deflate; client_max_window_bits=9', params(false, false, 15, 9)]],
    ['client offered a value, no server cap', 'permessage-deflate; client_max_window_bits=11', {}, ['permessage-deflate', params(false, false, 15, 11)]],
    ['client cap needs the parameter', 'permessage-deflate', { clientMaxWindowBits: 10 }, null],
    ['duplicate parameter', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover', {}, null],
    ['unknown parameter', 'permessage-deflate; foo', {}, null],
    ['value on a flag', 'permessage-deflate; server_no_context_takeover=1', {}, null],
    ['window 16', 'permessage-deflate; server_max_window_bits=16', {}, null],
    ['window 7', 'permessage-deflate; client_max_window_bits=7', {}, null],
    ['window 010', 'permessage-deflate; server_max_window_bits=010', {}, null],
    ['window without value', 'permessage-deflate; server_max_window_bits', {}, null],
    ['quoted window', 'permessage-deflate; server_max_window_bits="10"', {}, ['permessage-deflate; server_max_window_bits=10', params(false, false, 10)]],
    ['other extension only', 'x-webkit-deflate-frame', {}, null],
    ['bad offer then good', 'permessage-deflate; foo, permessage-deflate; client_max_window_bits', {}, ['permessage-deflate', params()]],
  ];
  for (const [name, header, options, expected] of cases) {
    it(name, () => {
      const r = negotiatePerMessageDeflate(parseExtensions([header])!, options);
      expect(r === null ? null : [r.response, r.params]).toEqual(expected);
    });
  }
  it('rejects invalid options', () => {
    expect(() => negotiatePerMessageDeflate([], { serverMaxWindowBits: 8 })).toThrow(RangeError);
    expect(() => negotiatePerMessageDeflate([], { clientMaxWindowBits: 16 })).toThrow(RangeError);
  });
  it('deflateConfigFor maps the agreement to each side', () => {
    const p = { serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 10, clientMaxWindowBits: 8 };
    expect(deflateConfigFor(p, 'server')).toEqual({ compressNoContextTakeover: true, compressWindowBits: 10, decompressNoContextTakeover: false, decompressWindowBits: 9 });
    expect(deflateConfigFor(p, 'client')).toEqual({ compressNoContextTakeover: false, compressWindowBits: 9, decompressNoContextTakeover: true, decompressWindowBits: 10 });
  });
});

describe('permessage-deflate negotiation: client', () => {
  it('formats offers', () => {
    expect(formatPerMessageDeflateOffer()).toBe('permessage-deflate; client_max_window_bits');
    expect(formatPerMessageDeflateOffer({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 })).toBe(
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11',
    );
    expect(formatPerMessageDeflateOffer({ clientMaxWindowBits: false })).toBe('permessage-deflate');
    expect(() => formatPerMessageDeflateOffer({ clientMaxWindowBits: 8 })).toThrow(RangeError);
  });

  const accept = (resp: string, opts = {}) => acceptPerMessageDeflateResponse(parseExtensions([resp])![0]!, opts);
  it('accepts valid responses', () => {
    expect(accept('permessage-deflate')).toEqual({ serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 });
    expect(accept('permessage-deflate; server_no_context_takeover; client_max_window_bits=10; server_max_window_bits=9')).toEqual({
      serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 9, clientMaxWindowBits: 10,
    });
    expect(accept('permessage-deflate; server_max_window_bits=8', { serverMaxWindowBits: 8 })).toMatchObject({ serverMaxWindowBits: 8 });
    expect(accept('permessage-deflate; client_max_window_bits=12', { clientMaxWindowBits: 10 })).toMatchObject({ clientMaxWindowBits: 10 });
  });
  it('refuses invalid responses', () => {
    for (const [resp, opts] of [
      ['permessage-deflate; client_max_window_bits', {}],
      ['permessage-deflate; client_max_window_bits=10', { clientMaxWindowBits: false }],
      ['permessage-deflate; client_max_window_bits=8', {}],
      ['permessage-deflate', { serverMaxWindowBits: 10 }],
      ['permessage-deflate; server_max_window_bits=11', { serverMaxWindowBits: 10 }],
      ['permessage-deflate', { serverNoContextTakeover: true }],
      ['permessage-deflate; foo', {}],
      ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', {}],
    ] as const) {
      expect(typeof accept(resp, opts)).toBe('string');
    }
  });
});

describe('client handshake', () => {
  const hs = createClientHandshake({ host: 'server.example.com', path: '/chat', protocols: ['chat', 'superchat'], perMessageDeflate: true, origin: 'http://example.com', key: KEY });

  it('builds the request headers', () => {
    expect(hs.method).toBe('GET');
    expect(hs.path).toBe('/chat');
    expect(hs.headers).toEqual([
      ['Host', 'server.example.com'],
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade'],
      ['Sec-WebSocket-Key', KEY],
      ['Sec-WebSocket-Version', '13'],
      ['Sec-WebSocket-Protocol', 'chat, superchat'],
      ['Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits'],
      ['Origin', 'http://example.com'],
    ]);
    expect(isValidKey(createClientHandshake({ host: 'h' }).key)).toBe(true);
    expect(() => createClientHandshake({ host: 'h', protocols: ['a b'] })).toThrow(RangeError);
    expect(() => createClientHandshake({ host: 'h', protocols: ['a', 'a'] })).toThrow(RangeError);
  });

  it('round-trips with the server helpers', () => {
    const lower: HeaderList = hs.headers.map(([k, v]) => [k.toLowerCase(), v] as const);
    const server = acceptUpgrade({ method: 'GET', httpVersion: '1.1', headers: lower }, { protocols: ['superchat'], perMessageDeflate: { serverNoContextTakeover: true } });
    expect(server.ok).toBe(true);
    if (!server.ok) return;
    const result = validateServerResponse(hs, { status: 101, headers: server.headers.map(([k, v]) => [k.toLowerCase(), v] as const) });
    expect(result).toEqual({ protocol: 'superchat', perMessageDeflate: server.perMessageDeflate });
  });

  const good: Array<[string, string]> = [
    ['upgrade', 'websocket'],
    ['connection', 'Upgrade'],
    ['sec-websocket-accept', ACCEPT],
  ];
  it('accepts a minimal 101', () => {
    expect(validateServerResponse(hs, { status: 101, headers: good })).toEqual({ protocol: null, perMessageDeflate: null });
  });

  const failures: Array<[string, number, Array<[string, string]>]> = [
    ['status 200', 200, good],
    ['no upgrade', 101, good.filter(([k]) => k !== 'upgrade')],
    ['no connection', 101, good.filter(([k]) => k !== 'connection')],
    ['wrong accept', 101, [...good.slice(0, 2), ['sec-websocket-accept', 'x']]],
    ['two accepts', 101, [...good, ['sec-websocket-accept', ACCEPT]]],
    ['unrequested protocol', 101, [...good, ['sec-websocket-protocol', 'other']]],
    ['two protocols', 101, [...good, ['sec-websocket-protocol', 'chat'], ['sec-websocket-protocol', 'chat']]],
    ['protocol list', 101, [...good, ['sec-websocket-protocol', 'chat, superchat']]],
    ['unoffered extension', 101, [...good, ['sec-websocket-extensions', 'x-foo']]],
    ['deflate twice', 101, [...good, ['sec-websocket-extensions', 'permessage-deflate, permessage-deflate']]],
    ['bad deflate params', 101, [...good, ['sec-websocket-extensions', 'permessage-deflate; client_max_window_bits']]],
    ['malformed extensions', 101, [...good, ['sec-websocket-extensions', 'permessage-deflate;']]],
  ];
  for (const [name, status, headers] of failures) {
    it(`refuses ${name}`, () => {
      let err: unknown;
      try {
        validateServerResponse(hs, { status, headers });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(WebSocketHandshakeError);
      expect((err as WebSocketHandshakeError).status).toBe(status);
    });
  }

  it('refuses deflate when not offered', () => {
    const plain = createClientHandshake({ host: 'h', key: KEY });
    expect(() => validateServerResponse(plain, { status: 101, headers: [...good, ['sec-websocket-extensions', 'permessage-deflate']] })).toThrow(WebSocketHandshakeError);
  });
});
