/**
 * The chat's consumers: `ChatConsumer`, one instance per browser WebSocket, and
 * `PostMessageConsumer`, the HTTP endpoint that posts into a room from outside.
 *
 * A room is a channel-layer group, `chat_<room>`. Every connection in the room joins it; a message
 * (from a WebSocket or from the HTTP endpoint) is `groupSend` to the group as
 * `{ type: 'chat.message', user, text }`, and the layer hands it to each member's
 * `chat_message` handler (dots become underscores), which forwards it to that member's browser.
 * Joins and leaves travel the same way as `chat.join` / `chat.leave`. Nothing here knows about
 * the other members: the layer does, so the same code works on one process (the in-memory layer)
 * or many (a Redis layer).
 *
 * The WebSocket protocol, one JSON object per text frame:
 *   browser → server  { type: 'join', user }            once, first
 *                     { type: 'message', text }
 *   server → browser  { type: 'joined', room, user }    to the one who joined
 *                     { type: 'join', user }  { type: 'leave', user }  { type: 'message', user, text }
 *                     { type: 'error', error }          bad input: the connection stays open
 * Input is never trusted: types, lengths and characters are checked (see `LIMITS`), and anything
 * wrong gets an `error` message back, to that client only — a client cannot crash its consumer,
 * nor reach the other members with garbage.
 */
import { AsyncHttpConsumer, JsonWebsocketConsumer } from 'spindle/channels';

/** Input limits (characters, i.e. code points, after trimming; bytes for whole frames and bodies). */
export const LIMITS = Object.freeze({ user: 32, text: 1000, frame: 8 * 1024, body: 8 * 1024 });

/** Room names: what the page allows, and what fits in a group name (`chat_` + room < 100 chars). */
export const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,50}$/;

/** The group of a room (group names allow ASCII letters, digits, `-`, `_` and `.`). */
export function roomGroup(room) {
  return `chat_${room}`;
}

// Control and format characters (bidi overrides, zero-width…) have no place in a name, and only
// tabs and newlines in a message.
const NAME_FORBIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const TEXT_FORBIDDEN = /[^\P{Cc}\t\n]|[\p{Cf}\p{Zl}\p{Zp}]/u;

/**
 * `value` as a user name, or throw a `BadInput` saying what is wrong with it: a string of 1 to
 * `LIMITS.user` characters once trimmed (inner runs of spaces collapsed), no control characters.
 */
export function cleanUser(value) {
  if (typeof value !== 'string') throw new BadInput('"user" must be a string');
  const user = value.trim().replace(/\s+/g, ' ');
  if (user === '') throw new BadInput('"user" must not be empty');
  if (!user.isWellFormed() || NAME_FORBIDDEN.test(user)) throw new BadInput('"user" contains characters that are not allowed');
  if ([...user].length > LIMITS.user) throw new BadInput(`"user" is longer than ${LIMITS.user} characters`);
  return user;
}

/**
 * `value` as a message text, or throw a `BadInput`: a string of 1 to `LIMITS.text` characters once
 * trimmed, no control characters but tabs and newlines.
 */
export function cleanText(value) {
  if (typeof value !== 'string') throw new BadInput('"text" must be a string');
  const text = value.trim();
  if (text === '') throw new BadInput('"text" must not be empty');
  if (!text.isWellFormed() || TEXT_FORBIDDEN.test(text)) throw new BadInput('"text" contains characters that are not allowed');
  if ([...text].length > LIMITS.text) throw new BadInput(`"text" is longer than ${LIMITS.text} characters`);
  return text;
}

/** The valid room name the URL router captured (`<str:room>`), or null. */
function roomOf(scope) {
  const room = scope.url_route?.kwargs?.room;
  return typeof room === 'string' && ROOM_PATTERN.test(room) ? room : null;
}

/** Bad input from a client: its message goes back to that client, and the connection stays. */
export class BadInput extends TypeError {
  name = 'BadInput';
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** One browser in one room (routed from `ws/chat/<str:room>/`). */
export class ChatConsumer extends JsonWebsocketConsumer {
  /** The room (from the URL) and its group, once connected. */
  room = null;
  group = null;
  /** The name this client joined with; null until its `join`. */
  user = null;

  async connect() {
    const room = roomOf(this.scope);
    // Closing before accepting refuses the handshake: the server answers 403.
    if (room === null) return this.close();
    this.room = room;
    this.group = roomGroup(room);
    await this.channelLayer.groupAdd(this.group, this.channelName);
    await this.accept();
  }

  async receive(data) {
    // Checked before parsing: a client may not make us parse (or hold) more than this.
    const size = data.text !== undefined ? Buffer.byteLength(data.text) : data.bytes.length;
    if (size > LIMITS.frame) return this.#error(`messages are limited to ${LIMITS.frame} bytes`);
    return super.receive(data);
  }

  /** Not JSON, or a binary frame: say so, and keep the connection (the default would close it). */
  async receiveInvalid(data) {
    await this.#error(data.text === undefined ? 'binary frames are not accepted: send JSON text' : 'that was not valid JSON');
  }

  async receiveJson(content) {
    if (!isObject(content)) return this.#error('expected a JSON object with a "type"');
    try {
      switch (content.type) {
        case 'join':
          return await this.#join(content);
        case 'message':
          return await this.#message(content);
        default:
          return await this.#error(`unknown message type ${JSON.stringify(String(content.type)).slice(0, 40)}`);
      }
    } catch (e) {
      // Bad input goes back to this client; anything else is a bug and ends the consumer.
      if (e instanceof BadInput) return this.#error(e.message);
      throw e;
    }
  }

  // Private (#) methods: a layer message's type can never reach them (dispatch looks up
  // public methods by name: "chat.join" → chat_join).

  async #join({ user }) {
    if (this.user !== null) throw new BadInput(`already joined as ${this.user}`);
    this.user = cleanUser(user);
    await this.sendJson({ type: 'joined', room: this.room, user: this.user });
    await this.channelLayer.groupSend(this.group, { type: 'chat.join', user: this.user });
  }

  async #message({ text }) {
    if (this.user === null) throw new BadInput('join first: send { "type": "join", "user": "your name" }');
    await this.channelLayer.groupSend(this.group, { type: 'chat.message', user: this.user, text: cleanText(text) });
  }

  /** The client left (its group membership is already gone, so the notice reaches the others only). */
  async disconnect() {
    if (this.user !== null) await this.channelLayer.groupSend(this.group, { type: 'chat.leave', user: this.user });
  }

  // Handlers of the group's messages: each forwards one to this client.

  async chat_message(event) {
    await this.sendJson({ type: 'message', user: event.user, text: event.text });
  }

  async chat_join(event) {
    await this.sendJson({ type: 'join', user: event.user });
  }

  async chat_leave(event) {
    await this.sendJson({ type: 'leave', user: event.user });
  }

  #error(message) {
    return this.sendJson({ type: 'error', error: message });
  }
}

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' };

/**
 * `POST /rooms/<room>/messages` with a JSON body `{ "user", "text" }`: posts into the room from
 * outside (a script, a webhook) and answers 202 once the message is handed to the layer.
 * Errors: 405 for another method, 404 for an invalid room name, 415 unless the body is declared
 * `application/json` (which also keeps plain HTML forms on other sites from posting here), 400 for
 * a body that is not a valid message, 413 beyond `LIMITS.body` bytes.
 */
export class PostMessageConsumer extends AsyncHttpConsumer {
  static maxBodySize = LIMITS.body;

  async handle(body) {
    if (this.scope.method !== 'POST') {
      return this.sendResponse(405, JSON.stringify({ error: 'use POST' }), { headers: { ...JSON_HEADERS, allow: 'POST' } });
    }
    const room = roomOf(this.scope);
    if (room === null) return this.reply(404, { error: 'no such room: names are 1 to 50 of A-Z a-z 0-9 _ -' });
    const type = this.scope.headers.find(([name]) => name === 'content-type')?.[1] ?? '';
    if (type.split(';')[0].trim().toLowerCase() !== 'application/json') {
      return this.reply(415, { error: 'send the message as application/json' });
    }
    let message;
    try {
      let content;
      try {
        content = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
      } catch {
        throw new BadInput('the body is not valid JSON (in UTF-8)');
      }
      if (!isObject(content)) throw new BadInput('expected a JSON object { "user", "text" }');
      message = { type: 'chat.message', user: cleanUser(content.user), text: cleanText(content.text) };
    } catch (e) {
      if (e instanceof BadInput) return this.reply(400, { error: e.message });
      throw e;
    }
    await this.channelLayer.groupSend(roomGroup(room), message);
    await this.reply(202, { status: 'accepted', room });
  }

  reply(status, content) {
    return this.sendResponse(status, `${JSON.stringify(content)}\n`, { headers: JSON_HEADERS });
  }
}
