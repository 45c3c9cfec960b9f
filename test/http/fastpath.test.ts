/**
 * The server's fast path (one latin1 string per response, memoised field
 * blocks and heads, one write per batch) must produce exactly what the
 * serializer's checked path produces, and step aside whenever a response
 * is unusual: framing fields set by the handler, a custom reason, HEAD,
 * 204/304, HTTP/1.0, Connection: close, UTF-8 and byte bodies. Also:
 * TCP_NODELAY on by default, lazily computed pre/postpath, literal routes.
 */
import { Buffer } from 'node:buffer';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  HTTPFactory,
  HttpStateError,
  Resource,
  ResponseSerializer,
  Router,
  createTestRequest,
  render,
  type Request,
  type RequestHandler,
} from '../../src/http/index.js';
import { StringTransport } from '../../src/testing/stringTransport.js';
import { SPLITS, connect, get } from './channel-helpers.js';

/** The wire output of `handler` answering `raw`, fed in `split`. */
function answer(handler: RequestHandler, raw: string, split: (typeof SPLITS)[number] = 'whole'): string {
  const conn = connect(handler);
  conn.send(raw, split);
  return conn.out();
}

const DATE = 'Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n';

describe('what the fast path writes', () => {
  const cases: Array<{ name: string; handler: RequestHandler; raw?: string; out: string }> = [
    {
      name: 'a text body with one field',
      handler: (r) => {
        r.setHeader('Content-Type', 'text/plain');
        r.finish('Hello, World!');
      },
      out: `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${DATE}Content-Length: 13\r\n\r\nHello, World!`,
    },
    {
      name: 'no fields, no body',
      handler: (r) => r.finish(),
      out: `HTTP/1.1 200 OK\r\n${DATE}Content-Length: 0\r\n\r\n`,
    },
    {
      name: 'a UTF-8 body: its length in bytes',
      handler: (r) => r.finish('héllo €𝄞'),
      out: `HTTP/1.1 200 OK\r\n${DATE}Content-Length: 14\r\n\r\n${Buffer.from('héllo €𝄞').toString('latin1')}`,
    },
    {
      name: 'a lone surrogate is written as U+FFFD (3 bytes)',
      handler: (r) => r.finish('a\ud800b'),
      out: `HTTP/1.1 200 OK\r\n${DATE}Content-Length: 5\r\n\r\na\xef\xbf\xbdb`,
    },
    {
      name: 'a byte body',
      handler: (r) => r.finish(Buffer.from([0, 1, 255])),
      out: `HTTP/1.1 200 OK\r\n${DATE}Content-Length: 3\r\n\r\n\x00\x01\xff`,
    },
    {
      name: 'a status and repeated fields, in order, obs-text kept',
      handler: (r) => {
        r.setResponseCode(404);
        r.addHeader('X-A', '1');
        r.addHeader('x-a', '2');
        r.setHeader('X-Latin', 'caf\xe9');
        r.finish('no');
      },
      out: `HTTP/1.1 404 Not Found\r\nX-A: 1\r\nx-a: 2\r\nX-Latin: caf\xe9\r\n${DATE}Content-Length: 2\r\n\r\nno`,
    },
    {
      name: "the handler's own Date",
      handler: (r) => {
        r.setHeader('Date', 'Tue, 15 Nov 1994 08:12:31 GMT');
        r.finish('x');
      },
      out: 'HTTP/1.1 200 OK\r\nDate: Tue, 15 Nov 1994 08:12:31 GMT\r\nContent-Length: 1\r\n\r\nx',
    },
    {
      name: 'Connection: close asked by the client',
      handler: (r) => r.finish('x'),
      raw: 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      out: `HTTP/1.1 200 OK\r\n${DATE}Content-Length: 1\r\nConnection: close\r\n\r\nx`,
    },
    {
      name: 'an HTTP/1.0 client keeping the connection',
      handler: (r) => r.finish('x'),
      raw: 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
      out: `HTTP/1.1 200 OK\r\n${DATE}Content-Length: 1\r\nConnection: keep-alive\r\n\r\nx`,
    },
    {
      name: 'an HTTP/1.0 client',
      handler: (r) => r.finish('x'),
      raw: 'GET / HTTP/1.0\r\n\r\n',
      out: `HTTP/1.1 200 OK\r\n${DATE}Content-Length: 1\r\nConnection: close\r\n\r\nx`,
    },
    // The checked path: these must come out right too.
    {
      name: 'a Content-Length the handler set, equal to the body length',
      handler: (r) => {
        r.setHeader('Content-Length', 1);
        r.finish('x');
      },
      out: `HTTP/1.1 200 OK\r\nContent-Length: 1\r\n${DATE}\r\nx`,
    },
    {
      name: 'Connection: close set by the handler (checked path)',
      handler: (r) => {
        r.setHeader('Connection', 'close');
        r.finish('x');
      },
      out: `HTTP/1.1 200 OK\r\nConnection: close\r\n${DATE}Content-Length: 1\r\n\r\nx`,
    },
    {
      name: 'a custom reason (checked path)',
      handler: (r) => {
        r.setResponseCode(200, 'Fine');
        r.finish('x');
      },
      out: `HTTP/1.1 200 Fine\r\n${DATE}Content-Length: 1\r\n\r\nx`,
    },
    {
      name: 'HEAD (checked path): the length of the body GET would get',
      handler: (r) => r.finish('hello'),
      raw: 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n',
      out: `HTTP/1.1 200 OK\r\n${DATE}Content-Length: 5\r\n\r\n`,
    },
    {
      name: '204 (checked path)',
      handler: (r) => {
        r.setResponseCode(204);
        r.finish();
      },
      out: `HTTP/1.1 204 No Content\r\n${DATE}\r\n`,
    },
    {
      name: '304 (checked path), no Content-Length derived',
      handler: (r) => {
        r.setResponseCode(304);
        r.finish();
      },
      out: `HTTP/1.1 304 Not Modified\r\n${DATE}\r\n`,
    },
    {
      name: '304 to HEAD, no Content-Length derived either',
      handler: (r) => {
        r.setResponseCode(304);
        r.finish();
      },
      raw: 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n',
      out: `HTTP/1.1 304 Not Modified\r\n${DATE}\r\n`,
    },
    {
      name: 'an unregistered status (checked path)',
      handler: (r) => {
        r.setResponseCode(299);
        r.finish('x');
      },
      out: `HTTP/1.1 299 \r\n${DATE}Content-Length: 1\r\n\r\nx`,
    },
  ];
  for (const c of cases) {
    for (const split of SPLITS) {
      it(`${c.name} (${split})`, () => {
        expect(answer(c.handler, c.raw ?? get('/'), split)).toBe(c.out);
      });
    }
  }

  it('removing the framing field the handler set goes back to the fast path', () => {
    const out = answer((r) => {
      r.setHeader('Content-Length', 5);
      r.setHeader('X-Keep', 'yes');
      r.removeHeader('content-length');
      r.finish('x');
    }, get('/'));
    expect(out).toBe(`HTTP/1.1 200 OK\r\nX-Keep: yes\r\n${DATE}Content-Length: 1\r\n\r\nx`);
  });
});

describe("the application's own Content-Length", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  type Fields = Array<[string, string | number]>;
  /** What the checked serializer writes for these fields and body (the Date field last, as the channel adds it). */
  function checked(fields: Fields, body: string | Uint8Array, info = { method: 'GET', versionMinor: 1, keepAlive: true }, status = 200): string {
    const ser = new ResponseSerializer();
    ser.respondTo(info);
    const out = ser.send({ type: 'response', status, headers: [...fields, ['Date', 'Thu, 01 Jan 1970 00:00:00 GMT']], body });
    return Buffer.from(out).toString('latin1');
  }
  function handlerFor(fields: Fields, body: string | Uint8Array, status = 200): RequestHandler {
    return (r) => {
      if (status !== 200) r.setResponseCode(status);
      for (const [n, v] of fields) r.addHeader(n, v);
      r.finish(body);
    };
  }

  // One exact Content-Length: the fast path (no serializer send), the checked path's bytes.
  const fast: Array<{ name: string; fields: Fields; body: string | Uint8Array; raw?: string; info?: { method: string; versionMinor: number; keepAlive: boolean }; status?: number }> = [
    { name: 'lower-case, as ASGI applications send it', fields: [['content-type', 'text/plain'], ['content-length', '13']], body: new TextEncoder().encode('Hello, World!') },
    { name: 'a number, first among the fields', fields: [['Content-Length', 5], ['X-A', '1']], body: 'hello' },
    { name: 'leading zeros', fields: [['Content-Length', '005']], body: 'hello' },
    { name: 'zero and no body', fields: [['Content-Length', '0']], body: '' },
    { name: 'a UTF-8 body, counted in bytes', fields: [['Content-Length', 5]], body: 'ü€' },
    { name: 'the handler’s own Date too', fields: [['Date', 'Tue, 15 Nov 1994 08:12:31 GMT'], ['Content-Length', 1]], body: 'x' },
    { name: 'a 404', fields: [['Content-Length', 2]], body: 'no', status: 404 },
    {
      name: 'an HTTP/1.0 client keeping the connection',
      fields: [['Content-Length', 1]],
      body: 'x',
      raw: 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
      info: { method: 'GET', versionMinor: 0, keepAlive: true },
    },
    {
      name: 'a client asking to close',
      fields: [['Content-Length', 1]],
      body: 'x',
      raw: 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      info: { method: 'GET', versionMinor: 1, keepAlive: false },
    },
  ];
  for (const c of fast) {
    it(`fast path, same bytes as the checked one: ${c.name}`, () => {
      const send = vi.spyOn(ResponseSerializer.prototype, 'send');
      const out = answer(handlerFor(c.fields, c.body, c.status), c.raw ?? get('/'));
      expect(send).not.toHaveBeenCalled();
      send.mockRestore();
      let expected = checked(c.fields, c.body, c.info, c.status);
      // The Date field comes before the body, after the application's fields, unless it set one.
      if (c.fields.some(([n]) => n === 'Date')) expected = expected.replace('Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n', '');
      expect(out).toBe(expected);
    });
  }

  it('the memoised head follows the Content-Length from one response to the next', () => {
    const bodies = ['a', 'bb', 'bb', 'a'];
    let i = 0;
    const conn = connect((r) => {
      const body = bodies[i++]!;
      r.setHeader('content-length', body.length);
      r.finish(body);
    });
    conn.send(get('/') + get('/') + get('/') + get('/'));
    expect(conn.responses().map((x) => [x.headers.getAll('content-length'), x.body])).toEqual(bodies.map((b) => [[String(b.length)], b]));
  });

  // Anything else: the checked path, as before.
  it('a Content-Length with spaces around it: checked, the same bytes', () => {
    const send = vi.spyOn(ResponseSerializer.prototype, 'send');
    const out = answer(handlerFor([['Content-Length', ' 5 ']], 'hello'), get('/'));
    expect(send).toHaveBeenCalled();
    expect(out).toBe(checked([['Content-Length', ' 5 ']], 'hello'));
  });

  it('a Content-Length that is not the body length: refused as before', () => {
    for (const [value, body] of [['4', 'hello'], ['6', 'hello'], ['x', 'hello'], ['1'.repeat(20), 'hello']] as const) {
      let error: unknown = null;
      const conn = connect((r) => {
        r.setHeader('Content-Length', value);
        try {
          r.finish(body);
        } catch (e) {
          error = e;
        }
      });
      conn.send(get('/'));
      expect(error).toBeInstanceOf(HttpStateError);
    }
  });

  it('two Content-Length fields: refused as before, even when both are right', () => {
    let error: unknown = null;
    const conn = connect((r) => {
      r.addHeader('Content-Length', 5);
      r.addHeader('Content-Length', 5);
      try {
        r.finish('hello');
      } catch (e) {
        error = e;
      }
    });
    conn.send(get('/'));
    expect(error).toBeInstanceOf(HttpStateError);
    expect((error as HttpStateError).code).toBe('FRAMING_CONFLICT');
  });

  it('HEAD with the GET body length: checked, the length kept and no body', () => {
    const out = answer(handlerFor([['Content-Length', 100]], ''), 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(out).toBe(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\n${DATE}\r\n`);
  });

  it('setHeader replaces and removeHeader forgets the Content-Length', () => {
    const out = answer((r) => {
      r.addHeader('Content-Length', 9);
      r.setHeader('content-length', 1);
      r.finish('x');
    }, get('/'));
    expect(out).toBe(`HTTP/1.1 200 OK\r\ncontent-length: 1\r\n${DATE}\r\nx`);
    const again = answer((r) => {
      r.addHeader('Content-Length', 9);
      r.addHeader('Content-Length', 9);
      r.removeHeader('CONTENT-LENGTH');
      r.finish('x');
    }, get('/'));
    expect(again).toBe(`HTTP/1.1 200 OK\r\n${DATE}Content-Length: 1\r\n\r\nx`);
  });

  it('a Connection field set beside it still takes the checked path', () => {
    const send = vi.spyOn(ResponseSerializer.prototype, 'send');
    const out = answer(handlerFor([['Content-Length', 1], ['Connection', 'close']], 'x'), get('/'));
    expect(send).toHaveBeenCalled();
    expect(out).toBe(checked([['Content-Length', 1], ['Connection', 'close']], 'x'));
  });

  it('simpleResponseHead with the length in the lines adds none', () => {
    const ser = new ResponseSerializer();
    ser.respondTo({ method: 'GET', versionMinor: 1, keepAlive: true });
    expect(ser.simpleResponseHead(200, 'Content-Length: 2\r\n', 2, true)).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n');
    ser.respondTo({ method: 'GET', versionMinor: 1, keepAlive: true });
    // Not the memoised head of the call before: that one had no Content-Length of its own.
    expect(ser.simpleResponseHead(200, 'Content-Length: 2\r\n', 2, false)).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n');
  });
});

describe('memoised heads never go stale', () => {
  it('fields, status, length and date changing between responses on one connection', () => {
    let n = 0;
    const conn = connect((r) => {
      n++;
      if (n === 2) r.setHeader('Content-Type', 'text/html');
      else r.setHeader('Content-Type', 'text/plain');
      if (n === 3) r.setResponseCode(201);
      r.finish(n === 4 ? 'longer body' : 'body');
    });
    conn.send(get('/1') + get('/2') + get('/3') + get('/4') + get('/5'));
    conn.clock.advance(1);
    conn.send(get('/6'));
    const res = conn.responses();
    expect(res.map((x) => [x.status, x.headers.get('content-type'), x.headers.get('content-length'), x.body])).toEqual([
      [200, 'text/plain', '4', 'body'],
      [200, 'text/html', '4', 'body'],
      [201, 'text/plain', '4', 'body'],
      [200, 'text/plain', '11', 'longer body'],
      [200, 'text/plain', '4', 'body'],
      [200, 'text/plain', '4', 'body'],
    ]);
    expect(res.map((x) => x.headers.get('date'))).toEqual([
      ...Array(5).fill('Thu, 01 Jan 1970 00:00:00 GMT'),
      'Thu, 01 Jan 1970 00:00:01 GMT',
    ]);
  });

  it('a response finished later carries the time it was finished', () => {
    const held: Request[] = [];
    const conn = connect((r) => {
      held.push(r);
    });
    conn.send(get('/'));
    conn.clock.advance(5);
    held[0]!.finish('late');
    expect(conn.responses()[0]!.headers.get('date')).toBe('Thu, 01 Jan 1970 00:00:05 GMT');
  });

  it('a field changed in place after a response does not reuse the old block', () => {
    const conn = connect((r) => {
      r.setHeader('X-N', r.path.slice(1));
      r.finish('x');
    });
    conn.send(get('/a') + get('/b') + get('/b') + get('/c'));
    expect(conn.responses().map((x) => x.headers.get('x-n'))).toEqual(['a', 'b', 'b', 'c']);
  });

  it('two connections interleaved', () => {
    const a = connect((r) => {
      r.setHeader('X-Conn', 'a');
      r.finish('a');
    });
    const b = connect((r) => {
      r.setHeader('X-Conn', 'b');
      r.finish('bb');
    });
    for (let i = 0; i < 3; i++) {
      a.send(get('/'));
      b.send(get('/'));
    }
    expect(a.responses().map((x) => [x.headers.get('x-conn'), x.body])).toEqual(Array(3).fill(['a', 'a']));
    expect(b.responses().map((x) => [x.headers.get('x-conn'), x.body])).toEqual(Array(3).fill(['b', 'bb']));
  });

  it('simpleResponseHead refuses what it does not cover, changing nothing', () => {
    const ser = new ResponseSerializer();
    ser.respondTo({ method: 'HEAD', versionMinor: 1, keepAlive: true });
    expect(ser.simpleResponseHead(200, '', 1)).toBe(null);
    ser.respondTo({ method: 'GET', versionMinor: 1, keepAlive: true });
    for (const status of [100, 101, 204, 304, 299, 600, 200.5]) expect(ser.simpleResponseHead(status, '', 0)).toBe(null);
    expect(ser.state).toBe('idle');
    ser.respondTo({ method: 'GET', versionMinor: 1, keepAlive: false });
    expect(ser.simpleResponseHead(200, 'X: y\r\n', 2)).toBe('HTTP/1.1 200 OK\r\nX: y\r\nContent-Length: 2\r\nConnection: close\r\n\r\n');
    expect(ser.state).toBe('must-close');
  });
});

describe('one write per batch', () => {
  it('a pipelined batch of fast-path responses is one transport write', () => {
    const conn = connect((r) => r.finish(`you asked for ${r.path}`));
    let batch = '';
    for (let i = 0; i < 16; i++) batch += get(`/${i}`);
    conn.send(batch);
    expect(conn.transport.writes).toHaveLength(1);
    expect(conn.responses().map((x) => x.body)).toEqual(Array.from({ length: 16 }, (_, i) => `you asked for /${i}`));
  });

  it('a batch mixing text, UTF-8, bytes and checked responses is still one write, in order', () => {
    const bodies: Array<(r: Request) => void> = [
      (r) => r.finish('ascii'),
      (r) => r.finish('ütf'),
      (r) => r.finish(Buffer.from('bytes')),
      (r) => {
        r.setHeader('Content-Length', 7);
        r.finish('checked');
      },
      (r) => {
        r.write('chunk');
        r.finish();
      },
      (r) => r.finish('last'),
    ];
    let i = 0;
    const conn = connect((r) => bodies[i++]!(r));
    conn.send(Array.from({ length: bodies.length }, (_, k) => get(`/${k}`)).join(''));
    expect(conn.transport.writes).toHaveLength(1);
    expect(conn.responses().map((x) => Buffer.from(x.body, 'latin1').toString())).toEqual(['ascii', 'ütf', 'bytes', 'checked', 'chunk', 'last']);
  });
});

/** A TCP-like StringTransport that records setTcpNoDelay. */
class NoDelayTransport extends StringTransport {
  tcpNoDelay: boolean | null = null;
  setTcpNoDelay(enabled: boolean): void {
    this.tcpNoDelay = enabled;
  }
}

describe('TCP_NODELAY', () => {
  it('is turned on for each connection by default, and can be left alone', () => {
    for (const [options, expected] of [[{}, true], [{ noDelay: true }, true], [{ noDelay: false }, null]] as const) {
      const factory = new HTTPFactory((r) => r.finish(), options);
      const transport = new NoDelayTransport();
      factory.buildProtocol(transport.getPeer()).makeConnection(transport);
      expect(transport.tcpNoDelay).toBe(expected);
    }
  });

  it('a transport without it (not TCP) is fine', () => {
    const conn = connect((r) => r.finish('x'));
    conn.send(get('/'));
    expect(conn.responses()[0]!.body).toBe('x');
  });
});

describe('paths and routes', () => {
  it('postpath is the decoded segments until a Site walks; prepath empty', () => {
    const r = createTestRequest({ path: '/a/b%20c/?q=1' });
    expect(r.prepath).toEqual([]);
    expect(r.postpath).toEqual(['a', 'b c', '']);
    r.postpath = ['x'];
    expect(r.postpath).toEqual(['x']);
    expect(createTestRequest({ path: '/' }).postpath).toEqual(['']);
    expect(createTestRequest({ method: 'OPTIONS', path: '*' }).postpath).toEqual([]);
  });

  it('a Site walks from the path, whatever was set before', async () => {
    class Where extends Resource {
      override isLeaf = true;
      render_GET(r: Request): string {
        return `${r.prepath.join(',')}|${r.postpath.join(',')}`;
      }
    }
    const root = new Resource();
    root.putChild('a', new Where());
    const request = createTestRequest({ path: '/a/b/c' });
    request.postpath = ['junk'];
    expect((await render(root, request)).text).toBe('a|b,c');
  });

  it('literal routes match by comparison, parameters by pattern, mounted or not', async () => {
    const router = new Router()
      .get('/', () => 'root')
      .get('/exact/path', () => 'exact')
      .get('/users/<int:id>', (r) => `user ${r.params.id}`);
    const cases: Array<[string, number, string]> = [
      ['/', 200, 'root'],
      ['/exact/path', 200, 'exact'],
      ['/exact/path/', 404, ''],
      ['/exact/pat', 404, ''],
      ['/users/7', 200, 'user 7'],
      ['/%65xact/path', 200, 'exact'],
    ];
    for (const [path, status, text] of cases) {
      const res = await render(router, createTestRequest({ path }));
      expect([path, res.status]).toEqual([path, status]);
      if (status === 200) expect(res.text).toBe(text);
    }
    const root = new Resource();
    root.putChild('api', router.asResource());
    expect((await render(root, createTestRequest({ path: '/api/exact/path' }))).text).toBe('exact');
    expect((await render(root, createTestRequest({ path: '/api/users/3' }))).text).toBe('user 3');
    expect((await render(root, createTestRequest({ path: '/api/' }))).text).toBe('root');
  });
});
