/**
 * A tiny receive/send pair for driving ASGI applications in router and middleware tests (the real
 * communicators live in src/channels/testing/).
 */
import type { ASGIApplication, ASGIEvent, Scope } from '../../src/channels/types.js';

/** Run `app` on `scope`, feeding `inputs` to receive() (then waiting forever); what it sent. */
export async function run(app: ASGIApplication, scope: Scope, inputs: ASGIEvent[] = []): Promise<ASGIEvent[]> {
  const sent: ASGIEvent[] = [];
  const queue = [...inputs];
  await app(
    scope,
    () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise<ASGIEvent>(() => undefined)),
    (event) => {
      sent.push(event);
      return Promise.resolve();
    },
  );
  return sent;
}

/** An endpoint application that records the scopes it is called with. */
export function recorder(name = 'app'): ASGIApplication & { scopes: Scope[]; appName: string } {
  const scopes: Scope[] = [];
  const app = (scope: Scope): Promise<void> => {
    scopes.push(scope);
    return Promise.resolve();
  };
  return Object.assign(app, { scopes, appName: name });
}

export const http = (path: string, extra: Partial<Scope> = {}): Scope => ({
  type: 'http',
  asgi: { version: '3.0', spec_version: '2.5' },
  http_version: '1.1',
  method: 'GET',
  scheme: 'http',
  path,
  raw_path: path,
  query_string: '',
  root_path: '',
  headers: [],
  ...extra,
});

export const websocket = (path: string, extra: Partial<Scope> = {}): Scope => ({
  type: 'websocket',
  asgi: { version: '3.0', spec_version: '2.5' },
  scheme: 'ws',
  path,
  raw_path: path,
  query_string: '',
  root_path: '',
  headers: [],
  subprotocols: [],
  ...extra,
});

export const text = (body: unknown): string => new TextDecoder().decode(body as Uint8Array);
