/**
 * Where a worker's CPU goes: a V8 CPU profile (protocol.ts CpuProfile) summarised by who owns the
 * code that ran. Each bundle's source map (build.ts) names the original file of every function, so
 * time lands on `node_modules/<package>`, on our own module (`lib/orders/create-order.ts`), or on
 * Node itself, V8's garbage collector and native code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../local-stack';
import type { CpuProfile } from './protocol';

/** ms per owner: `self`, and `withNode`: self plus the Node internals and native code it called. */
export interface Ownership {
  /** Busy (not idle) ms in the profiles. */
  busyMs: number;
  owners: Map<string, { self: number; withNode: number }>;
}

type Kind = 'code' | 'runtime' | 'idle' | 'root';

/**
 * Code that stands between a caller and Node without being the reason for the call: the round-trip
 * counter wraps every socket write, and the write is the client library's.
 */
const TRANSPARENT = new Set(['scripts/bench/round-trips.ts']);

const HTTP = 'Node: HTTP client';
const SOCKETS = 'Node: sockets and streams';
const NODE_GROUPS: [RegExp, string][] = [
  [/http/, HTTP],
  [/net|stream|socket|tcp|dns|pipe/, SOCKETS],
];

/** The package a path belongs to: the innermost node_modules/<package>. */
function ownerOfPath(path: string): string {
  const packages = [...path.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)];
  const innermost = packages.at(-1)?.[1];
  if (innermost) return `node_modules/${innermost}`;
  const inRoot = relative(ROOT, path);
  return inRoot.startsWith('..') ? path : inRoot;
}

export function ownership(profiles: CpuProfile[]): Ownership {
  const maps = new Map<string, SourceMap | undefined>();
  const sourceMapOf = (file: string) => {
    if (!maps.has(file)) {
      const mapFile = `${file}.map`;
      maps.set(
        file,
        existsSync(mapFile) ? new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8')) as SourceMapPayload) : undefined,
      );
    }
    return maps.get(file);
  };

  const classify = (frame: CpuProfile['nodes'][number]['callFrame']): { kind: Kind; owner: string } => {
    const { functionName, url, lineNumber, columnNumber } = frame;
    if (functionName === '(root)') return { kind: 'root', owner: '' };
    if (functionName === '(idle)') return { kind: 'idle', owner: '' };
    if (functionName === '(garbage collector)') return { kind: 'runtime', owner: 'V8: garbage collector' };
    if (functionName === '(program)') return { kind: 'runtime', owner: 'V8/Node native, unattributed' };
    if (url === '') return { kind: 'runtime', owner: 'V8/Node native' };
    if (url.startsWith('node:')) {
      const module = url.slice('node:'.length).replace(/^internal\//, '');
      return { kind: 'runtime', owner: NODE_GROUPS.find(([re]) => re.test(module))?.[1] ?? 'Node: other' };
    }
    const file = url.startsWith('file:') ? fileURLToPath(url) : url;
    const entry = sourceMapOf(file)?.findEntry(lineNumber, columnNumber);
    const source = entry && 'originalSource' in entry ? entry.originalSource : undefined;
    if (!source) return { kind: 'code', owner: ownerOfPath(file) };
    const path = source.startsWith('file:') ? fileURLToPath(source) : resolve(dirname(file), source);
    return { kind: 'code', owner: ownerOfPath(path) };
  };

  const result: Ownership = { busyMs: 0, owners: new Map() };
  const add = (owner: string, key: 'self' | 'withNode', ms: number) => {
    const entry = result.owners.get(owner) ?? { self: 0, withNode: 0 };
    entry[key] += ms;
    result.owners.set(owner, entry);
  };
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
    const classes = new Map(profile.nodes.map((n) => [n.id, classify(n.callFrame)]));
    /** The nearest frame, this one or a caller, that is code (a package or ours). */
    const payers = new Map<number, string | undefined>();
    const payer = (id: number): string | undefined => {
      if (!payers.has(id)) {
        const c = classes.get(id);
        const up = parent.get(id);
        const pays = c?.kind === 'code' && !TRANSPARENT.has(c.owner);
        payers.set(id, pays ? c.owner : up === undefined ? undefined : payer(up));
      }
      return payers.get(id);
    };
    /**
     * Where Node work that no package of ours is under belongs: to the HTTP client if it is anywhere
     * on the stack (a request's headers and body are written on the next tick, its answer parsed
     * from a socket read), else to sockets and streams if they are, else to the frame itself.
     */
    const stackGroups = new Map<number, string>();
    const stackGroup = (id: number): string => {
      let group = stackGroups.get(id);
      if (group === undefined) {
        const own = classes.get(id)?.owner ?? '';
        const up = parent.get(id);
        const above = up === undefined ? undefined : stackGroup(up);
        group = [HTTP, SOCKETS].find((g) => own === g || above === g) ?? own;
        stackGroups.set(id, group);
      }
      return group;
    };
    // A sample's time runs until the next sample (as Chrome DevTools counts it).
    const samples = profile.samples ?? [];
    const deltas = profile.timeDeltas ?? [];
    for (let i = 0; i < samples.length - 1; i++) {
      const id = samples[i] as number;
      const ms = (deltas[i + 1] ?? 0) / 1000;
      const c = classes.get(id);
      if (!c || c.kind === 'idle' || c.kind === 'root' || !byId.has(id)) continue;
      result.busyMs += ms;
      add(c.owner, 'self', ms);
      add(c.kind === 'code' ? c.owner : (payer(id) ?? stackGroup(id)), 'withNode', ms);
    }
  }
  return result;
}

/** Owners folded into what a reader asks about: our code, the framework, each client library, Node. */
export function groupOf(owner: string): string {
  if (owner.startsWith('lib/') || owner.startsWith('handlers/')) return 'our code (lib/, handlers/)';
  if (owner === 'scripts/bench/limit-worker.ts') return "the limit's own code (limit-worker.ts)";
  if (owner.startsWith('scripts/bench/')) return 'the bench harness (driver, round-trip counter, events)';
  const pkg = owner.startsWith('node_modules/') ? owner.slice('node_modules/'.length) : undefined;
  if (pkg === undefined) {
    if (owner === HTTP) return 'Node: HTTP client, no package on the stack';
    if (owner === SOCKETS) return 'Node: sockets and streams, no package on the stack';
    if (owner.startsWith('V8: garbage')) return owner;
    return 'Node and V8: the rest (microtasks, timers, native), no package on the stack';
  }
  if (pkg.startsWith('@middy/')) return 'middy';
  if (/^(pg|pg-.+|pgpass|postgres-.+)$/.test(pkg)) return 'pg (pg, pg-protocol, pg-pool, pg-types)';
  if (/^(ioredis|@ioredis\/.+|redis-.+|denque|cluster-key-slot|standard-as-callback|debug|ms)$/.test(pkg)) {
    return 'ioredis (with redis-parser, denque)';
  }
  if (pkg === 'stripe') return 'stripe (the SDK)';
  return pkg;
}

/** The same ownership, folded by groupOf. */
export function grouped(o: Ownership): Ownership {
  const owners = new Map<string, { self: number; withNode: number }>();
  for (const [owner, ms] of o.owners) {
    const group = groupOf(owner);
    const entry = owners.get(group) ?? { self: 0, withNode: 0 };
    entry.self += ms.self;
    entry.withNode += ms.withNode;
    owners.set(group, entry);
  }
  return { busyMs: o.busyMs, owners };
}
