/**
 * Errors of the reactor and of connections (Twisted's twisted.internet.error).
 */

/** `cancel`/`reset`/`delay` of a DelayedCall that already ran. */
export class AlreadyCalled extends Error {
  override name = 'AlreadyCalled';
  constructor(message = 'the delayed call has already run') {
    super(message);
  }
}

/** `cancel`/`reset`/`delay` of a DelayedCall that was cancelled. */
export class AlreadyCancelled extends Error {
  override name = 'AlreadyCancelled';
  constructor(message = 'the delayed call was already cancelled') {
    super(message);
  }
}

/** Base of the reasons a connection ends; `connectionLost` receives a Failure of one. */
export class ConnectionClosed extends Error {
  override name = 'ConnectionClosed';
}

/** The connection was closed cleanly. */
export class ConnectionDone extends ConnectionClosed {
  override name = 'ConnectionDone';
  constructor(message = 'connection was closed cleanly') {
    super(message);
  }
}

/** The connection was lost in a non-clean way (reset, aborted, reactor stopped...). */
export class ConnectionLost extends ConnectionClosed {
  override name = 'ConnectionLost';
  constructor(message = 'connection to the other side was lost in a non-clean fashion', options?: ErrorOptions) {
    super(message, options);
  }
}

/** Connecting failed: the reason a ClientFactory's `clientConnectionFailed` receives. */
export class ConnectError extends Error {
  override name = 'ConnectError';
}

/** The peer refused the connection (ECONNREFUSED). */
export class ConnectionRefusedError extends ConnectError {
  override name = 'ConnectionRefusedError';
}

/** Connecting took longer than its timeout. */
export class TCPTimedOutError extends ConnectError {
  override name = 'TCPTimedOutError';
}

/** A host name could not be resolved. */
export class DNSLookupError extends ConnectError {
  override name = 'DNSLookupError';
}

/** `stopConnecting()` or a cancelled endpoint `connect` ended the attempt. */
export class UserError extends ConnectError {
  override name = 'UserError';
}

/** An endpoint's `connect` Deferred was cancelled. */
export class ConnectingCancelledError extends Error {
  override name = 'ConnectingCancelledError';
  constructor(readonly address: unknown) {
    super('connecting was cancelled');
  }
}

/** `buildProtocol` returned null: the factory refused the connection. */
export class NoProtocol extends ConnectError {
  override name = 'NoProtocol';
}

/** listen* could not bind (port in use, permission, bad interface...). */
export class CannotListenError extends Error {
  override name = 'CannotListenError';
  constructor(
    readonly interface_: string,
    readonly port: number | string,
    options?: ErrorOptions,
  ) {
    super(`could not listen on ${interface_ || '*'}:${port}`, options);
  }
}

/** `run()` on a reactor that is running. */
export class ReactorAlreadyRunning extends Error {
  override name = 'ReactorAlreadyRunning';
}

/** `run()` on a reactor that was stopped: a reactor runs once. */
export class ReactorNotRestartable extends Error {
  override name = 'ReactorNotRestartable';
}

/** `stop()` on a reactor that is not running. */
export class ReactorNotRunning extends Error {
  override name = 'ReactorNotRunning';
}

/** A child process ended with exit code 0. */
export class ProcessDone extends Error {
  override name = 'ProcessDone';
  readonly exitCode = 0;
  readonly signal: string | null = null;
  constructor(message = 'A process has ended without apparent errors: process finished with exit code 0.') {
    super(message);
  }
}

/**
 * A child process ended with a non-zero exit code or was killed by a signal
 * (`signal` is Node's name, e.g. 'SIGTERM'). When the process could not be
 * started at all (executable missing, not executable, bad working directory),
 * both are null and `cause` is the spawn error (its `code` says why: ENOENT,
 * EACCES...).
 */
export class ProcessTerminated extends Error {
  override name = 'ProcessTerminated';
  constructor(
    readonly exitCode: number | null,
    readonly signal: string | null,
    options?: ErrorOptions,
  ) {
    super(
      signal !== null
        ? `A process has ended with a probable error condition: process ended by signal ${signal}.`
        : exitCode === null && options?.cause instanceof Error
          ? `A process could not be started: ${options.cause.message}.`
          : `A process has ended with a probable error condition: process ended with exit code ${exitCode}.`,
      options,
    );
  }
}

/** `signalProcess` on a child process that has already exited (or never started). */
export class ProcessExitedAlready extends Error {
  override name = 'ProcessExitedAlready';
  constructor(message = 'the process has already exited') {
    super(message);
  }
}

/** A datagram is larger than the port allows (its `maxPacketSize`, or the system's limit). */
export class MessageLengthError extends Error {
  override name = 'MessageLengthError';
}

/** A UDP address that is not an IP address literal (UDP ports do not resolve host names). */
export class InvalidAddressError extends Error {
  override name = 'InvalidAddressError';
  constructor(
    readonly address: string,
    message = `not an IP address: ${JSON.stringify(address)} (resolve host names first)`,
  ) {
    super(message);
  }
}

/** `connector.stopConnecting()` while the connector is not connecting. */
export class NotConnectingError extends Error {
  override name = 'NotConnectingError';
  constructor(message = 'the connector is not trying to connect') {
    super(message);
  }
}
