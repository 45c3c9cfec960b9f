/**
 * Scoring of one run, as Autobahn's `Case.onConnectionLost` does it: the received events decide
 * the behaviour (`OK` when they equal the OK list, `NON-STRICT` when they equal that one,
 * otherwise `FAILED`), the way the connection ended decides the close behaviour (wrong end
 * started the close → FAILED; not clean when it had to be → UNCLEAN; a close code not in the
 * list → WRONG CODE; the fuzzer had to drop TCP while testing a server → FAILED BY CLIENT), and
 * we combine both into one outcome: anything but a clean close behaviour is a failure, and so is
 * any protocol violation by the peer (Autobahn's fuzzer would have failed the connection).
 */
import { sameEvents, type Behavior, type Fuzzer, type Observed } from './fuzzer.js';

/** Autobahn's close behaviours. */
export type CloseBehavior = 'OK' | 'FAILED' | 'WRONG CODE' | 'UNCLEAN' | 'FAILED BY CLIENT';

/** The verdict on one run. */
export interface Verdict {
  readonly outcome: Behavior;
  readonly behavior: Behavior;
  readonly behaviorClose: CloseBehavior;
  readonly detail: string;
}

/** A short printable form of an event list. */
export function describeEvents(events: readonly Observed[]): string[] {
  return events.map((e) => {
    if (e[0] === 'timeout') return `timeout ${e[1]}`;
    const p = e[1];
    const shown = p.length <= 24 ? p.toString('hex') : `${p.subarray(0, 12).toString('hex')}… (${p.length} bytes)`;
    return e[0] === 'message' ? `${e[2] ? 'binary' : 'text'} ${shown}` : `${e[0]} ${shown}`;
  });
}

/** Score a finished run. */
export function score(f: Fuzzer): Verdict {
  const ec = f.expectedClose;
  let behavior: Behavior = 'FAILED';
  let detail = f.result;
  if (f.behavior !== undefined) {
    behavior = f.behavior;
  } else {
    for (const key of ['OK', 'NON-STRICT'] as const) {
      const list = f.expected[key];
      if (list !== undefined && sameEvents(f.received, list)) {
        behavior = key;
        break;
      }
    }
    if (behavior === 'FAILED') {
      const wanted = Object.entries(f.expected).map(([k, v]) => `${k}: [${describeEvents(v).join(', ')}]`);
      detail ||= `received [${describeEvents(f.received).join(', ')}], expected ${wanted.join(' or ')}`;
    }
  }
  let behaviorClose: CloseBehavior;
  let closeDetail: string;
  if (ec.closedByMe !== f.closedByMe) {
    behaviorClose = 'FAILED';
    closeDetail = `the ${f.closedByMe ? 'fuzzer' : 'peer'} started the close, expected the ${ec.closedByMe ? 'fuzzer' : 'peer'}`;
  } else if (ec.requireClean && !f.wasClean) {
    behaviorClose = 'UNCLEAN';
    closeDetail = 'the connection had to close cleanly';
  } else if (f.remoteCloseCode !== null && !ec.codes.includes(f.remoteCloseCode)) {
    behaviorClose = 'WRONG CODE';
    closeDetail = `close code ${f.remoteCloseCode}, expected ${ec.codes.join(' or ')} or none`;
  } else if (f.options.isClient && f.droppedByMe) {
    behaviorClose = 'FAILED BY CLIENT';
    closeDetail = 'the fuzzer had to close the TCP connection; the server should';
  } else {
    behaviorClose = 'OK';
    closeDetail = '';
  }
  if (ec.wrongEndpointIsFatal === true && ec.closedByMe !== f.closedByMe) behavior = 'FAILED';
  let outcome: Behavior = behavior;
  if (f.violations.length > 0) {
    outcome = 'FAILED';
    detail = f.violations.every((v) => v.startsWith('fuzzer error'))
      ? f.violations.join('; ')
      : `protocol violation by the peer: ${f.violations.join('; ')}`;
  } else if (behaviorClose !== 'OK') {
    outcome = 'FAILED';
    detail = [detail, `${behaviorClose}: ${closeDetail}`].filter((s) => s !== '').join('; ');
  }
  return { outcome, behavior, behaviorClose, detail };
}
