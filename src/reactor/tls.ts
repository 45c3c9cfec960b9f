/**
 * TLS on Node's `node:tls`: our {@link TLSOptions} translated to Node's, TLS
 * servers and client sockets, and the STARTTLS upgrade of a live socket.
 * The transports, ports and connectors that use them
 * (`./streamTransport.ts`, `./streamPort.ts`, `./streamConnector.ts`) are
 * shared by TCP, UNIX and TLS; the reactor's `listenSSL`/`connectSSL`
 * (`./tcp.ts`) and `transport.startTLS` end up here.
 */
import { isIP, type Socket } from 'node:net';
import tls from 'node:tls';
import type { TLSOptions } from './interfaces.js';

type Bytes = string | Buffer;

function bytes(x: string | Uint8Array): Bytes {
  return typeof x === 'string' || Buffer.isBuffer(x) ? x : Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}

/** The context options (key, certificate, CAs, versions) shared by both sides. */
function contextOptions(o: TLSOptions): tls.SecureContextOptions {
  const out: tls.SecureContextOptions = {};
  if (o.key !== undefined) out.key = bytes(o.key);
  if (o.cert !== undefined) out.cert = bytes(o.cert);
  if (o.ca !== undefined) out.ca = Array.isArray(o.ca) ? o.ca.map(bytes) : bytes(o.ca as string | Uint8Array);
  if (o.minVersion !== undefined) out.minVersion = o.minVersion;
  return out;
}

/**
 * Node's server options for `o`: the certificate and key, optional client
 * certificates (`requestCert`; `rejectUnauthorized` then defaults to true,
 * as in Node) and the ALPN protocols offered.
 */
export function tlsServerOptions(o: TLSOptions): tls.TlsOptions {
  const out: tls.TlsOptions = { ...contextOptions(o), allowHalfOpen: true };
  if (o.requestCert !== undefined) out.requestCert = o.requestCert;
  if (o.rejectUnauthorized !== undefined) out.rejectUnauthorized = o.rejectUnauthorized;
  if (o.alpnProtocols !== undefined) out.ALPNProtocols = o.alpnProtocols;
  return out;
}

/**
 * Node's client options for connecting to `host` with `o`. The server is
 * verified unless `rejectUnauthorized` is false; `servername` (SNI and the
 * name checked in the certificate) defaults to `host` when it is a name
 * rather than an IP address.
 */
export function tlsClientOptions(o: TLSOptions, host: string | undefined): tls.ConnectionOptions {
  const out: tls.ConnectionOptions = { ...contextOptions(o), rejectUnauthorized: o.rejectUnauthorized ?? true };
  const servername = o.servername ?? (host !== undefined && host !== '' && isIP(host) === 0 ? host : undefined);
  if (servername !== undefined) out.servername = servername;
  if (o.alpnProtocols !== undefined) out.ALPNProtocols = o.alpnProtocols;
  return out;
}

/**
 * A TLS server whose `onSecure` gets each connection once its handshake is
 * complete. Failed handshakes are dropped by Node (the socket is destroyed).
 */
export function createTLSServer(
  o: TLSOptions,
  extra: { highWaterMark?: number },
  onSecure: (socket: tls.TLSSocket) => void,
): tls.Server {
  const server = tls.createServer({ ...tlsServerOptions(o), ...extra }, onSecure);
  // A client that fails its handshake is not the server's error.
  server.on('tlsClientError', () => {});
  return server;
}

/** The event a client socket emits once it can carry data. */
export const TLS_CONNECT_EVENT = 'secureConnect';

/**
 * Open a TLS client connection (TCP connect, then handshake); wait for
 * {@link TLS_CONNECT_EVENT}.
 */
export function connectTLS(
  host: string,
  port: number,
  o: TLSOptions,
  extra: { localAddress?: string; localPort?: number; highWaterMark?: number },
): tls.TLSSocket {
  // allowHalfOpen and highWaterMark reach the TLSSocket; Node's types omit them.
  const options: tls.ConnectionOptions = { ...tlsClientOptions(o, host), host, port, ...extra };
  return tls.connect(Object.assign(options, { allowHalfOpen: true }));
}

/**
 * Switch a live connection to TLS (STARTTLS). `isServer` chooses the side of
 * the handshake; a client verifies the server as {@link tlsClientOptions}
 * says, checking `host` unless `o.servername` is given.
 *
 * Bytes queued on `socket` before the call still go out in clear ahead of
 * the handshake, and bytes already read but not delivered (the socket is
 * paused here) are fed to TLS: Node's TLSSocket handles both.
 */
export function upgradeToTLS(socket: Socket, o: TLSOptions, isServer: boolean, host?: string): tls.TLSSocket {
  if (!isServer) return tls.connect({ ...tlsClientOptions(o, host), socket, ...(host !== undefined ? { host } : {}) });
  return new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: tls.createSecureContext(contextOptions(o)),
    requestCert: o.requestCert ?? false,
    rejectUnauthorized: o.rejectUnauthorized ?? (o.requestCert === true),
    ...(o.alpnProtocols !== undefined ? { ALPNProtocols: o.alpnProtocols } : {}),
  });
}

/** The peer certificate of `socket` in Node's shape, or null when the peer sent none. */
export function peerCertificate(socket: tls.TLSSocket): object | null {
  const cert = socket.getPeerCertificate();
  return cert === null || Object.keys(cert).length === 0 ? null : cert;
}
