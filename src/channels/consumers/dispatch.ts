/**
 * How a message's `type` picks a consumer method (Channels' `get_handler_name`): dots become
 * underscores, so `"chat.message"` reaches `chat_message(message)`.
 */
import type { ASGIEvent } from '../types.js';
import { DispatchError } from './exceptions.js';

/** A handler: a consumer method taking the message. */
export type Handler = (message: ASGIEvent) => unknown;

/** Prototypes of the framework's consumer classes: their camelCase API is not dispatchable. */
const frameworkPrototypes: object[] = [];

/** Mark a consumer base class's methods as API, not handlers (used by the framework's own classes). */
export function registerFrameworkClass(cls: { prototype: object }): void {
  frameworkPrototypes.push(cls.prototype);
  checkedNames.clear(); // a name checked before may now be API
  lastType = null;
}

/** The method name for a message type: every `.` becomes `_`. */
export function handlerName(type: string): string {
  return type.replace(/\./g, '_');
}

function isFrameworkApi(name: string): boolean {
  // Handlers the framework defines (websocket_connect…) have underscores; its API (send,
  // accept, close, dispatch…) does not, and a message must never be able to call it.
  if (name.includes('_')) return false;
  return frameworkPrototypes.some((p) => Object.prototype.hasOwnProperty.call(p, name));
}

/**
 * The handler `consumer` has for `message`.
 * @throws DispatchError when the message has no string `type`; when the name starts with an
 *   underscore (private by convention), is an `Object.prototype` member or a consumer API
 *   method; or when the consumer has no such method. The error names the type.
 */
export function resolveHandler(consumer: object, message: unknown): Handler {
  const type = typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;
  if (typeof type !== 'string') {
    throw new DispatchError("Incoming message has no 'type' string", null, null);
  }
  // A broadcast hands the same type to every member in a row: the last answer first.
  let name: string;
  if (type === lastType) name = lastName;
  else {
    name = checkedNames.get(type) ?? checkName(type);
    lastType = type;
    lastName = name;
  }
  const fn = (consumer as Record<string, unknown>)[name];
  if (typeof fn !== 'function') {
    throw new DispatchError(`No handler for message type ${JSON.stringify(type)} (method ${name})`, type, name);
  }
  return fn as Handler;
}

/**
 * Types already known to map to a dispatchable name (the checks do not depend on the consumer):
 * every message pays a Map lookup instead of a regex replace and the API checks. Bounded, since
 * types may come from other processes through the layer; past the bound nothing more is cached.
 */
const checkedNames = new Map<string, string>();
const CHECKED_NAMES_LIMIT = 1024;
/** The type resolved last (one that passed the checks) and its handler name. */
let lastType: string | null = null;
let lastName = '';

/** The handler name of `type`, or throw the DispatchError that refuses it. */
function checkName(type: string): string {
  const name = handlerName(type);
  if (name.startsWith('_')) {
    throw new DispatchError(
      `Malformed type in message: ${JSON.stringify(type)} maps to ${name}, and handlers starting with an underscore are private`,
      type,
      name,
    );
  }
  if (name in Object.prototype || isFrameworkApi(name)) {
    throw new DispatchError(
      `Message type ${JSON.stringify(type)} maps to ${name}, which is part of the consumer's API, not a handler`,
      type,
      name,
    );
  }
  if (checkedNames.size < CHECKED_NAMES_LIMIT) checkedNames.set(type, name);
  return name;
}
