/**
 * Addresses of connection ends (Twisted's twisted.internet.address).
 */

/** An IPv4 address and port. */
export class IPv4Address {
  constructor(
    readonly type: 'TCP' | 'UDP',
    readonly host: string,
    readonly port: number,
  ) {}
  toString(): string {
    return `${this.host}:${this.port}`;
  }
}

/** An IPv6 address and port. */
export class IPv6Address {
  constructor(
    readonly type: 'TCP' | 'UDP',
    readonly host: string,
    readonly port: number,
    readonly flowInfo = 0,
    readonly scopeID: number | string = 0,
  ) {}
  toString(): string {
    return `[${this.host}]:${this.port}`;
  }
}

/** A UNIX socket path (null for an unnamed socket). */
export class UNIXAddress {
  constructor(readonly name: string | null) {}
  toString(): string {
    return this.name ?? '<unnamed>';
  }
}

/** Any address a transport can report. */
export type Address = IPv4Address | IPv6Address | UNIXAddress;

/** An IPv4Address or IPv6Address for `host`, by the form of the address. */
export function ipAddress(type: 'TCP' | 'UDP', host: string, port: number): IPv4Address | IPv6Address {
  return host.includes(':') ? new IPv6Address(type, host, port) : new IPv4Address(type, host, port);
}
