/**
 * Endpoints: where to listen and where to connect, as objects
 * (`TCP4ServerEndpoint`, `HostnameEndpoint`...) or as strings
 * (`serverFromString(reactor, 'tcp:8000')`).
 * @module
 */
export {
  parseDescription,
  _parse,
  quoteStringArgument,
  bindArguments,
  ArgumentReader,
  EndpointDescriptionError,
  type ParsedDescription,
} from './parse.js';
export {
  TCP4ServerEndpoint,
  TCP6ServerEndpoint,
  SSL4ServerEndpoint,
  UNIXServerEndpoint,
  TCP4ClientEndpoint,
  SSL4ClientEndpoint,
  UNIXClientEndpoint,
  connectProtocol,
  type TLSOptionsSource,
  type TCPServerEndpointOptions,
  type TCPClientEndpointOptions,
  type UNIXServerEndpointOptions,
} from './tcp.js';
export {
  HostnameEndpoint,
  HostnameAddress,
  systemResolver,
  interleaveFamilies,
  type HostResolver,
  type ResolvedAddress,
  type HostnameEndpointOptions,
  type HostnameReactor,
} from './hostname.js';
export { serverFromString, registerServerParser, type ServerParser } from './server.js';
export { clientFromString, registerClientParser, type ClientParser } from './client.js';
export type { IStreamServerEndpoint, IStreamClientEndpoint, IProtocolFactoryOf } from '../interfaces.js';
