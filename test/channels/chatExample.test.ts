/**
 * The chat example (examples/chat) driven through the communicators, without any I/O: two members
 * of a room both get a message, join and leave notices, rooms kept apart, the HTTP endpoint that
 * posts into a room, the static pages, and every kind of bad input answered with an error message
 * (never a crash, never reaching the other members).
 *
 * The example is plain JavaScript importing 'spindle/channels', which resolves to the built
 * package (dist/): this test therefore takes the communicators and the layer from dist/ too, so
 * that they and the example share one copy of the library. `npm test` builds dist/ before vitest;
 * run alone without a build, the suite is skipped with the reason printed. Errors logged by that
 * copy are tracked with its own `beginErrorTracking`, so a logged error fails a test here as
 * test/setup.ts does for src/.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type * as ChannelsModule from '../../src/channels/index.js';
import type * as TestingModule from '../../src/testing/index.js';
import type * as LoggerModule from '../../src/logger/index.js';
import type { ASGIApplication } from '../../src/channels/types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (p: string): string => pathToFileURL(join(root, 'dist', p)).href;
const BUILT = existsSync(join(root, 'dist', 'channels', 'index.js')) && existsSync(join(root, 'dist', 'testing', 'index.js'));
if (!BUILT) console.log('skipping test/channels/chatExample: dist/ is missing (run `npm run build`; `npm test` does it first)');

interface ChatConsumers {
  LIMITS: { user: number; text: number; frame: number; body: number };
  ROOM_PATTERN: RegExp;
}

let ch: typeof ChannelsModule;
let testing: typeof TestingModule;
let app: ASGIApplication;
let consumers: ChatConsumers;
let layer: ChannelsModule.InMemoryChannelLayer;
let open: ChannelsModule.WebsocketCommunicator[];

const ORIGIN = { origin: 'http://127.0.0.1:8000' };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

beforeAll(async () => {
  if (!BUILT) return;
  ch = (await import(dist('channels/index.js'))) as typeof ChannelsModule;
  testing = (await import(dist('testing/index.js'))) as typeof TestingModule;
  const logger = (await import(dist('logger/index.js'))) as typeof LoggerModule;
  if (process.env.SPINDLE_TEST_LOG !== '1') logger.beginLoggingTo([]);
  app = ((await import(pathToFileURL(join(root, 'examples', 'chat', 'app.js')).href)) as { default: ASGIApplication }).default;
  consumers = (await import(pathToFileURL(join(root, 'examples', 'chat', 'consumers.js')).href)) as ChatConsumers;
});

beforeEach(() => {
  if (!BUILT) return;
  testing.beginErrorTracking();
  layer = new ch.InMemoryChannelLayer();
  open = [];
});

afterEach(async () => {
  if (!BUILT) return;
  for (const c of open) await c.stop();
  await layer.close();
  const left = testing.endErrorTracking();
  expect(left.map((f) => f.getTraceback())).toEqual([]);
});

/** A browser tab connected to `room` (accepted), not yet joined. */
async function connect(room: string): Promise<ChannelsModule.WebsocketCommunicator> {
  const c = new ch.WebsocketCommunicator(app, `/ws/chat/${room}/`, { channelLayer: layer, headers: ORIGIN });
  open.push(c);
  expect(await c.connect()).toEqual([true, null]);
  return c;
}

/** Connected and joined as `user`; the `joined` answer and its own join notice are taken. */
async function member(room: string, user: string): Promise<ChannelsModule.WebsocketCommunicator> {
  const c = await connect(room);
  await c.sendJsonTo({ type: 'join', user });
  expect(await c.receiveJsonFrom()).toEqual({ type: 'joined', room, user });
  expect(await c.receiveJsonFrom()).toEqual({ type: 'join', user });
  return c;
}

const quiet = (c: ChannelsModule.WebsocketCommunicator): PromiseLike<boolean> => c.receiveNothing(0.05);

describe.skipIf(!BUILT)('examples/chat over WebSocket', () => {
  it('delivers a message to every member of the room, the sender included', async () => {
    const alice = await member('lobby', 'alice');
    const bob = await member('lobby', 'bob');
    expect(await alice.receiveJsonFrom()).toEqual({ type: 'join', user: 'bob' });

    await alice.sendJsonTo({ type: 'message', text: '  hello, bob  ' });
    const expected = { type: 'message', user: 'alice', text: 'hello, bob' };
    expect(await alice.receiveJsonFrom()).toEqual(expected);
    expect(await bob.receiveJsonFrom()).toEqual(expected);

    await bob.sendJsonTo({ type: 'message', text: 'hi alice\n\thow are you?' });
    const reply = { type: 'message', user: 'bob', text: 'hi alice\n\thow are you?' };
    expect(await alice.receiveJsonFrom()).toEqual(reply);
    expect(await bob.receiveJsonFrom()).toEqual(reply);
    expect(await quiet(alice)).toBe(true);
    expect(await quiet(bob)).toBe(true);
  });

  it('announces joins to the room and leaves to the others, and forgets who left', async () => {
    const alice = await member('lobby', 'alice');
    const bob = await member('lobby', 'bob');
    expect(await alice.receiveJsonFrom()).toEqual({ type: 'join', user: 'bob' });
    const carol = await member('lobby', 'carol');
    expect(await alice.receiveJsonFrom()).toEqual({ type: 'join', user: 'carol' });
    expect(await bob.receiveJsonFrom()).toEqual({ type: 'join', user: 'carol' });

    await bob.disconnect();
    expect(await alice.receiveJsonFrom()).toEqual({ type: 'leave', user: 'bob' });
    expect(await carol.receiveJsonFrom()).toEqual({ type: 'leave', user: 'bob' });

    await carol.sendJsonTo({ type: 'message', text: 'is bob gone?' });
    expect(await alice.receiveJsonFrom()).toEqual({ type: 'message', user: 'carol', text: 'is bob gone?' });
    expect(await carol.receiveJsonFrom()).toEqual({ type: 'message', user: 'carol', text: 'is bob gone?' });
    expect(await quiet(alice)).toBe(true);
  });

  it('announces nothing for a connection that never joined', async () => {
    const alice = await member('lobby', 'alice');
    const lurker = await connect('lobby');
    // Connected but not joined: it still hears the room…
    await alice.sendJsonTo({ type: 'message', text: 'anyone?' });
    expect(await lurker.receiveJsonFrom()).toEqual({ type: 'message', user: 'alice', text: 'anyone?' });
    expect(await alice.receiveJsonFrom()).toEqual({ type: 'message', user: 'alice', text: 'anyone?' });
    // …and leaves without a notice.
    await lurker.disconnect();
    expect(await quiet(alice)).toBe(true);
  });

  it('keeps rooms apart', async () => {
    const alice = await member('room-a', 'alice');
    const bob = await member('room_b', 'bob');
    await alice.sendJsonTo({ type: 'message', text: 'only room-a hears this' });
    expect(await alice.receiveJsonFrom()).toEqual({ type: 'message', user: 'alice', text: 'only room-a hears this' });
    expect(await quiet(bob)).toBe(true);
  });

  it.each([
    ['an empty-looking name', '%20'],
    ['a dot', 'a.b'],
    ['a non-ASCII name', 'caf%C3%A9'],
    ['a name longer than 50', 'r'.repeat(51)],
  ])('refuses the handshake for %s (403)', async (_what, room) => {
    const c = new ch.WebsocketCommunicator(app, `/ws/chat/${room}/`, { channelLayer: layer, headers: ORIGIN });
    open.push(c);
    const [accepted] = await c.connect();
    expect(accepted).toBe(false);
    expect(c.serverActions.map((a) => a.kind)).toContain('deny');
  });

  it.each([
    ['no Origin header', {}],
    ['another site', { origin: 'https://evil.example' }],
  ])('refuses a WebSocket from %s (cross-site WebSocket hijacking)', async (_what, headers) => {
    const c = new ch.WebsocketCommunicator(app, '/ws/chat/lobby/', { channelLayer: layer, headers });
    open.push(c);
    expect((await c.connect())[0]).toBe(false);
  });

  it('accepts pages served from localhost and [::1] as well', async () => {
    for (const origin of ['http://localhost:8000', 'http://[::1]:8000']) {
      const c = new ch.WebsocketCommunicator(app, '/ws/chat/lobby/', { channelLayer: layer, headers: { origin } });
      open.push(c);
      expect(await c.connect()).toEqual([true, null]);
    }
  });
});

describe.skipIf(!BUILT)('examples/chat: bad input gets an error message, and nothing else happens', () => {
  const LONG_NAME = 'n'.repeat(33);
  // [what, frames sent after connecting (the first may be a join), the error's pattern]
  const joined = JSON.stringify({ type: 'join', user: 'mallory' });
  const cases: Array<[string, Array<string | Uint8Array>, RegExp]> = [
    ['text that is not JSON', ['{"type": "join",'], /not valid JSON/],
    ['a binary frame', [new Uint8Array([0x7b, 0x7d])], /binary frames are not accepted/],
    ['a JSON array', ['[1, 2]'], /expected a JSON object/],
    ['a JSON string', ['"join"'], /expected a JSON object/],
    ['null', ['null'], /expected a JSON object/],
    ['an object without a type', ['{"user": "x"}'], /unknown message type "undefined"/],
    ['an unknown type', ['{"type": "chat.message", "user": "x", "text": "y"}'], /unknown message type "chat.message"/],
    ['a message before joining', ['{"type": "message", "text": "hi"}'], /join first/],
    ['a join without a name', ['{"type": "join"}'], /"user" must be a string/],
    ['a join with a number for a name', ['{"type": "join", "user": 42}'], /"user" must be a string/],
    ['a join with a blank name', ['{"type": "join", "user": " \\t "}'], /"user" must not be empty/],
    ['a join with a name too long', [JSON.stringify({ type: 'join', user: LONG_NAME })], /longer than 32/],
    ['a join with a control character', ['{"type": "join", "user": "a\\u0007b"}'], /not allowed/],
    ['a join with a bidi override', ['{"type": "join", "user": "a\\u202eb"}'], /not allowed/],
    ['a join with a lone surrogate', ['{"type": "join", "user": "a\\ud800b"}'], /not allowed/],
    ['a second join', [joined, joined], /already joined as mallory/],
    ['a message without text', [joined, '{"type": "message"}'], /"text" must be a string/],
    ['a message with an object for text', [joined, '{"type": "message", "text": {"a": 1}}'], /"text" must be a string/],
    ['an empty message', [joined, '{"type": "message", "text": "   "}'], /"text" must not be empty/],
    ['a message too long', [joined, JSON.stringify({ type: 'message', text: 'x'.repeat(1001) })], /longer than 1000/],
    ['a message with a NUL', [joined, '{"type": "message", "text": "a\\u0000b"}'], /not allowed/],
    ['a frame over 8 KiB', [joined, JSON.stringify({ type: 'message', text: 'x'.repeat(9000) })], /limited to 8192 bytes/],
    ['a binary frame over 8 KiB', [new Uint8Array(9000)], /limited to 8192 bytes/],
  ];

  it.each(cases)('%s', async (_what, frames, error) => {
    const witness = await member('lobby', 'witness');
    const c = await connect('lobby');
    for (const f of frames) await c.sendTo(typeof f === 'string' ? { text: f } : { bytes: f });
    let reply = (await c.receiveJsonFrom()) as { type: string };
    // A valid join before the bad frame is answered first (and announced to the room).
    if (reply.type === 'joined') {
      expect(await c.receiveJsonFrom()).toEqual({ type: 'join', user: 'mallory' });
      expect(await witness.receiveJsonFrom()).toEqual({ type: 'join', user: 'mallory' });
      reply = (await c.receiveJsonFrom()) as { type: string };
    }
    expect(reply).toEqual({ type: 'error', error: expect.stringMatching(error) });
    // Only that client heard about it, and its connection still works.
    expect(await quiet(witness)).toBe(true);
    expect(c.serverActions.some((a) => a.kind === 'close')).toBe(false);
    if (frames[0] !== joined) {
      await c.sendJsonTo({ type: 'join', user: 'mallory' });
      expect(await c.receiveJsonFrom()).toEqual({ type: 'joined', room: 'lobby', user: 'mallory' });
      expect(await c.receiveJsonFrom()).toEqual({ type: 'join', user: 'mallory' });
      expect(await witness.receiveJsonFrom()).toEqual({ type: 'join', user: 'mallory' });
    }
    await c.sendJsonTo({ type: 'message', text: 'still here' });
    expect(await witness.receiveJsonFrom()).toEqual({ type: 'message', user: 'mallory', text: 'still here' });
  });

  it('limits names in characters, not bytes or UTF-16 units', async () => {
    const c = await connect('lobby');
    const name = '🧵'.repeat(consumers.LIMITS.user); // 32 characters, 64 UTF-16 units
    await c.sendJsonTo({ type: 'join', user: `  ${name}  ` });
    expect(await c.receiveJsonFrom()).toEqual({ type: 'joined', room: 'lobby', user: name });
  });
});

describe.skipIf(!BUILT)('examples/chat over HTTP', () => {
  const post = (room: string, body: string | Uint8Array, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    new ch.HttpCommunicator(app, 'POST', `/rooms/${room}/messages`, { body, headers, channelLayer: layer }).getResponse();

  it('posts into a room from outside: 202, and every member gets the message', async () => {
    const alice = await member('lobby', 'alice');
    const bob = await member('lobby', 'bob');
    expect(await alice.receiveJsonFrom()).toEqual({ type: 'join', user: 'bob' });

    const response = await post('lobby', JSON.stringify({ user: 'deploy-bot', text: 'v1.2 is live' }), {
      'content-type': 'application/json; charset=utf-8',
    });
    expect(response.status).toBe(202);
    expect(JSON.parse(dec(response.body))).toEqual({ status: 'accepted', room: 'lobby' });
    expect(response.headers).toContainEqual(['content-type', 'application/json']);
    const expected = { type: 'message', user: 'deploy-bot', text: 'v1.2 is live' };
    expect(await alice.receiveJsonFrom()).toEqual(expected);
    expect(await bob.receiveJsonFrom()).toEqual(expected);
  });

  it('posts into an empty room without error', async () => {
    expect((await post('nobody-here', JSON.stringify({ user: 'bot', text: 'hello?' }))).status).toBe(202);
  });

  it.each([
    ['not JSON', '{"user":', 400, /not valid JSON/],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), 400, /not valid JSON/],
    ['a JSON array', '[]', 400, /expected a JSON object/],
    ['no user', '{"text": "hi"}', 400, /"user" must be a string/],
    ['no text', '{"user": "bot"}', 400, /"text" must be a string/],
    ['a text too long', JSON.stringify({ user: 'bot', text: 'x'.repeat(1001) }), 400, /longer than 1000/],
    ['a body over 8 KiB', JSON.stringify({ user: 'bot', text: 'x'.repeat(9000) }), 413, null],
  ] as const)('answers %s with %i', async (_what, body, status, error) => {
    const alice = await member('lobby', 'alice');
    const response = await post('lobby', body);
    expect(response.status).toBe(status);
    if (error !== null) expect((JSON.parse(dec(response.body)) as { error: string }).error).toMatch(error);
    expect(await quiet(alice)).toBe(true);
  });

  it('answers 415 unless the body is declared as JSON', async () => {
    const body = JSON.stringify({ user: 'bot', text: 'hi' });
    expect((await post('lobby', body, { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415);
    expect((await post('lobby', body, {})).status).toBe(415);
  });

  it('answers 404 for an invalid room name and 405 for another method', async () => {
    const body = JSON.stringify({ user: 'bot', text: 'hi' });
    expect((await post('not.a.room', body)).status).toBe(404);
    const get = await new ch.HttpCommunicator(app, 'GET', '/rooms/lobby/messages', { channelLayer: layer }).getResponse();
    expect(get.status).toBe(405);
    expect(get.headers).toContainEqual(['allow', 'POST']);
  });

  it('serves the page and its script', async () => {
    const page = await new ch.HttpCommunicator(app, 'GET', '/').getResponse();
    expect(page.status).toBe(200);
    expect(page.headers).toContainEqual(['content-type', 'text/html; charset=utf-8']);
    expect(dec(page.body)).toContain('<script src="/static/chat.js" defer></script>');
    const script = await new ch.HttpCommunicator(app, 'GET', '/static/chat.js').getResponse();
    expect(script.status).toBe(200);
    expect(script.headers).toContainEqual(['content-type', 'text/javascript; charset=utf-8']);
    expect(dec(script.body)).toContain('/ws/chat/');
    const head = await new ch.HttpCommunicator(app, 'HEAD', '/').getResponse();
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it.each([
    ['POST', '/', 405],
    ['GET', '/static/other.js', 404],
    ['GET', '/ws/chat/lobby/', 404],
  ])('answers %s %s with %i', async (method, target, status) => {
    expect((await new ch.HttpCommunicator(app, method, target, { body: enc('') }).getResponse()).status).toBe(status);
  });
});
