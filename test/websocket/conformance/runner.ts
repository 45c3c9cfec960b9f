/**
 * The conformance runner: replays the case table against a WebSocket server (the fuzzer is a
 * raw `net` client) or a client (the fuzzer is a raw `net` server the client connects to), once
 * per delivery mode, scores every run as Autobahn does, and writes a JSON report.
 *
 * Runs are independent connections on 127.0.0.1; a few run at once (`concurrency`), each
 * bounded by its case's time limit.
 */
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { dirname } from 'node:path';
import {
  DOCUMENTED_NON_STRICT,
  KNOWN_ISSUES,
  clientRefusesAccept,
  documentedNonStrict,
  knownIssueOf,
  type ConformanceCase,
  type Role,
  type Settings,
} from './cases.js';
import { acceptOffer, checkDeflateResponse, formatOffer, parseOffers, type DeflateAgreement } from './compression.js';
import { Fuzzer, type Behavior, type DeliveryMode } from './fuzzer.js';
import { clientHandshake, readUpgradeRequest, write101 } from './handshake.js';
import { describeEvents, score, type CloseBehavior } from './score.js';

/** How to run. */
export interface RunnerOptions {
  readonly settings: Settings;
  /** Multiplies the cases' 1-second pauses (6.4.x, 5.19/5.20). */
  readonly pauseScale: number;
  /** Runs at once. */
  readonly concurrency: number;
}

/** One run of a case in one delivery mode. */
export interface RunRecord {
  readonly mode: DeliveryMode;
  readonly outcome: Behavior;
  readonly behavior: Behavior;
  readonly behaviorClose: CloseBehavior;
  readonly detail: string;
  /** What the fuzzer received (at most 20 events shown). */
  readonly received: string[];
  readonly remoteCloseCode: number | null;
  readonly closedByMe: boolean;
  readonly wasClean: boolean;
  /** Who closed TCP: the implementation under test (`peer`) or the fuzzer. */
  readonly tcpClosedBy: 'peer' | 'fuzzer';
  /** Extensions agreed, if any. */
  readonly deflate: DeflateAgreement | null;
  readonly ms: number;
  readonly stats: Record<string, number | string>;
  /** A FAILED run that shows a reported, not yet fixed issue (see `KNOWN_ISSUES`). */
  knownIssue?: string;
}

/** A case over all its runs. */
export interface CaseRecord {
  readonly id: string;
  readonly group: string;
  readonly role: Role;
  readonly description: string;
  readonly expectation: string;
  /** The worst outcome over the runs. */
  readonly outcome: Behavior;
  /** Why this case may be NON-STRICT, when it is documented so. */
  readonly documentedNonStrict: string | null;
  readonly runs: RunRecord[];
}

const RANK: Record<Behavior, number> = { OK: 0, 'NON-STRICT': 1, FAILED: 2 };

function failedRun(mode: DeliveryMode, detail: string, started: number): RunRecord {
  return {
    mode,
    outcome: 'FAILED',
    behavior: 'FAILED',
    behaviorClose: 'FAILED',
    detail,
    received: [],
    remoteCloseCode: null,
    closedByMe: false,
    wasClean: false,
    tcpClosedBy: 'fuzzer',
    deflate: null,
    ms: Date.now() - started,
    stats: {},
  };
}

function recordOf(mode: DeliveryMode, f: Fuzzer, started: number): RunRecord {
  const v = score(f);
  const received = describeEvents(f.received);
  return {
    mode,
    outcome: v.outcome,
    behavior: v.behavior,
    behaviorClose: v.behaviorClose,
    detail: v.detail || f.result,
    received: received.length > 20 ? [...received.slice(0, 20), `… ${received.length - 20} more`] : received,
    remoteCloseCode: f.remoteCloseCode,
    closedByMe: f.closedByMe,
    wasClean: f.wasClean,
    tcpClosedBy: f.peerClosedTcp ? 'peer' : 'fuzzer',
    deflate: f.options.deflate,
    ms: Date.now() - started,
    stats: f.stats,
  };
}

/** Wait for `p` at most `ms`; on expiry call `onTimeout` and wait for `p` still (it must settle). */
async function bounded<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((r) => (timer = setTimeout(() => r('expired'), ms)));
  try {
    const first = await Promise.race([p, expired]);
    if (first !== 'expired') return first;
    onTimeout();
    return await p;
  } finally {
    clearTimeout(timer);
  }
}

async function pool<T>(jobs: ReadonlyArray<() => Promise<T>>, n: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, jobs.length)) }, worker));
  return out;
}

function collect(role: Role, cases: readonly ConformanceCase[], runs: ReadonlyArray<{ c: ConformanceCase; run: RunRecord }>): CaseRecord[] {
  const byId = new Map<string, RunRecord[]>();
  for (const { c, run } of runs) {
    const issue = knownIssueOf(role, c.id, run);
    if (issue !== null) run.knownIssue = issue;
    const list = byId.get(c.id) ?? [];
    list.push(run);
    byId.set(c.id, list);
  }
  return cases
    .filter((c) => c.roles.includes(role))
    .map((c) => {
      const list = byId.get(c.id) ?? [];
      const outcome = list.reduce<Behavior>((w, r) => (RANK[r.outcome] > RANK[w] ? r.outcome : w), 'OK');
      return {
        id: c.id,
        group: c.group,
        role,
        description: c.description,
        expectation: c.expectation,
        outcome,
        documentedNonStrict: documentedNonStrict(role, c.id),
        runs: list,
      };
    });
}

/** Every run of `cases` in `role`: the concurrent ones in a pool, then the serial ones alone. */
async function runAll(
  role: Role,
  cases: readonly ConformanceCase[],
  o: RunnerOptions,
  run: (c: ConformanceCase, mode: DeliveryMode) => Promise<RunRecord>,
): Promise<Array<{ c: ConformanceCase; run: RunRecord }>> {
  type Job = () => Promise<{ c: ConformanceCase; run: RunRecord }>;
  const concurrent: Job[] = [];
  const serial: Job[] = [];
  for (const c of cases) {
    if (!c.roles.includes(role)) continue;
    for (const mode of c.modes(o.settings)) (c.serial === true ? serial : concurrent).push(async () => ({ c, run: await run(c, mode) }));
  }
  return [...(await pool(concurrent, o.concurrency)), ...(await pool(serial, 1))];
}

// ================================================================== server role

/**
 * Run `cases` against the WebSocket server at `host:port` (an echo server: every message sent
 * back as it came, compressed at the negotiated parameters when permessage-deflate was agreed).
 */
export async function runServerRole(target: { host: string; port: number }, cases: readonly ConformanceCase[], o: RunnerOptions): Promise<CaseRecord[]> {
  const run = async (c: ConformanceCase, mode: DeliveryMode): Promise<RunRecord> => {
    const started = Date.now();
    const socket = netConnect({ host: target.host, port: target.port });
    socket.on('error', () => undefined);
    try {
      await bounded(once(socket, 'connect'), 5000, () => socket.destroy(new Error('connect timed out')));
      const offers = c.deflate?.offers ?? [];
      const hs = await clientHandshake(
        socket,
        `${target.host}:${target.port}`,
        `/conformance/${c.id}?mode=${mode}`,
        offers.length > 0 ? offers.map(formatOffer).join(', ') : null,
      );
      const agreement = checkDeflateResponse(offers, hs.extensions);
      if (typeof agreement === 'string') {
        socket.destroy();
        return failedRun(mode, `opening handshake: ${agreement}`, started);
      }
      const f = new Fuzzer(
        socket,
        { isClient: true, mode, pauseScale: o.pauseScale, deflate: agreement, ourNoContextTakeover: offers.some((x) => x.acceptNoContextTakeover ?? true) },
        c.script(o.settings),
      );
      f.start(hs.rest);
      await bounded(f.done, c.timeoutMs(o.settings), () => f.abort(`the run did not finish within ${c.timeoutMs(o.settings)} ms`));
      return recordOf(mode, f, started);
    } catch (e) {
      socket.destroy();
      return failedRun(mode, `opening handshake: ${(e as Error).message}`, started);
    }
  };
  return collect('server', cases, await runAll('server', cases, o, run));
}

// ================================================================== client role

/**
 * The client under test: connect to `url`, echo every message, and settle once the connection
 * is over (`error` when it could not be opened).
 */
export type ClientUnderTest = (url: string) => PromiseLike<{ error?: Error }>;

interface Pending {
  readonly c: ConformanceCase;
  readonly mode: DeliveryMode;
  readonly opened: Promise<Fuzzer | string>;
  open(f: Fuzzer | string): void;
}

/**
 * Run `cases` against a WebSocket client: a fake server on 127.0.0.1 reads each upgrade request
 * (the path names the run), answers 101 (accepting permessage-deflate as the case's policy says)
 * and plays the case; `client` is asked to connect once per run.
 */
export async function runClientRole(client: ClientUnderTest, cases: readonly ConformanceCase[], o: RunnerOptions): Promise<CaseRecord[]> {
  const pending = new Map<string, Pending>();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    void (async () => {
      let entry: Pending | undefined;
      try {
        const req = await readUpgradeRequest(socket);
        const runId = /^\/run\/(\d+)/.exec(req.path)?.[1];
        entry = runId === undefined ? undefined : pending.get(runId);
        if (entry === undefined) throw new Error(`unknown run ${req.path}`);
        let header: string | null = null;
        let agreement: DeflateAgreement | null = null;
        if (entry.c.deflate !== undefined) {
          const accepted = acceptOffer(parseOffers(req.headers.get('sec-websocket-extensions')), entry.c.deflate.accept);
          if (accepted !== null) ({ header, agreement } = accepted);
        }
        write101(socket, req.key, header);
        const f = new Fuzzer(socket, { isClient: false, mode: entry.mode, pauseScale: o.pauseScale, deflate: agreement }, entry.c.script(o.settings));
        entry.open(f);
        f.start(req.rest);
      } catch (e) {
        socket.destroy();
        entry?.open(`opening handshake: ${(e as Error).message}`);
      }
    })();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  let counter = 0;

  const run = async (c: ConformanceCase, mode: DeliveryMode): Promise<RunRecord> => {
    const started = Date.now();
    const runId = String(++counter);
    let open!: (f: Fuzzer | string) => void;
    const opened = new Promise<Fuzzer | string>((r) => (open = r));
    pending.set(runId, { c, mode, opened, open });
    try {
      const url = `ws://127.0.0.1:${port}/run/${runId}?case=${c.id}&mode=${mode}`;
      const clientDone = Promise.resolve(client(url)).then(
        (r) => r,
        (e: unknown) => ({ error: e instanceof Error ? e : new Error(String(e)) }),
      );
      const limit = c.timeoutMs(o.settings);
      const first = await bounded(
        Promise.race([opened, clientDone.then((r) => `the client finished without connecting${r.error ? `: ${r.error.message}` : ''}`)]),
        limit,
        () => open('the client did not connect in time'),
      );
      if (typeof first === 'string') {
        const r = await bounded(clientDone, 6000, () => undefined);
        return refusalOr(c, mode, r.error, failedRun(mode, first, started));
      }
      const f = first;
      await bounded(f.done, limit, () => f.abort(`the run did not finish within ${limit} ms`));
      // The client sees the end of the connection too; let it settle (it may have refused the 101).
      const r = await bounded(clientDone, 6000, () => undefined);
      return refusalOr(c, mode, r?.error, recordOf(mode, f, started));
    } finally {
      pending.delete(runId);
    }
  };

  try {
    return collect('client', cases, await runAll('client', cases, o, run));
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
}

/**
 * Client role, the documented refusal: our client cannot honour `client_max_window_bits=8` and
 * fails the opening handshake. That is scored NON-STRICT when it is exactly what happened.
 */
function refusalOr(c: ConformanceCase, mode: DeliveryMode, error: Error | undefined, record: RunRecord): RunRecord {
  if (!clientRefusesAccept(c)) return record;
  if (error !== undefined && /window/i.test(error.message)) {
    return { ...record, outcome: 'NON-STRICT', behavior: 'NON-STRICT', behaviorClose: 'OK', detail: `the client refused the 101: ${error.message}` };
  }
  return { ...record, outcome: 'FAILED', detail: `expected the client to refuse client_max_window_bits=8; ${error ? error.message : record.detail}` };
}

// ================================================================== report

/** Counts by outcome. */
export function summarize(records: readonly CaseRecord[]): Record<Behavior | 'cases' | 'runs' | 'knownIssueRuns', number> {
  const s = { cases: records.length, runs: 0, OK: 0, 'NON-STRICT': 0, FAILED: 0, knownIssueRuns: 0 };
  for (const r of records) {
    s[r.outcome]++;
    s.runs += r.runs.length;
    for (const run of r.runs) if (run.knownIssue !== undefined) s.knownIssueRuns++;
  }
  return s;
}

/** Write the JSON report for `role` to `file` (directories created). */
export function writeReport(
  file: string,
  role: Role,
  records: readonly CaseRecord[],
  meta: { implementation: string; options: RunnerOptions; elapsedMs: number },
): void {
  mkdirSync(dirname(file), { recursive: true });
  const report = {
    role,
    implementation: meta.implementation,
    run: meta.options.settings.full ? 'full' : 'reduced',
    pauseScale: meta.options.pauseScale,
    concurrency: meta.options.concurrency,
    generatedAt: new Date().toISOString(),
    elapsedMs: meta.elapsedMs,
    summary: summarize(records),
    documentedNonStrict: DOCUMENTED_NON_STRICT.filter((d) => d.role === role),
    knownIssues: KNOWN_ISSUES.filter((k) => k.role === role).map((k) => ({
      ids: k.ids,
      issue: k.issue,
      seenIn: records.flatMap((r) => r.runs.filter((x) => x.knownIssue === k.issue).map((x) => `${r.id} [${x.mode}]`)),
    })),
    cases: records,
  };
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}
