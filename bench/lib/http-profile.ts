import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one function (grouped by name and location). */
export interface SelfTime {
  /** `name (file:line)`, the file relative to the repository or a package in node_modules. */
  fn: string;
  us: number;
}

/** A V8 CPU profile cut to one time span and summarised by self time. */
export interface ProfileSummary {
  /** Sampled busy time inside the span (idle samples left out), µs. */
  totalUs: number;
  /** Functions by self time, largest first. */
  top: SelfTime[];
  /** Self time in ratekeeper's own sources (`packages/`), µs. */
  ratekeeperUs: number;
  /**
   * Limiter CPU: samples whose nearest JavaScript frame outside Node's own modules is
   * ratekeeper code (its own work plus the Node calls it makes, e.g. `setHeader`), µs. Work
   * it hands on to (`next()`, the route handler) is attributed to the framework's frames.
   */
  ratekeeperAttributedUs: number;
  /** Self time by function of the samples counted in {@link ratekeeperAttributedUs}, largest first. */
  ratekeeperTop: SelfTime[];
}

const isRatekeeper = (url: string): boolean => url.includes('/packages/') && !url.includes('/node_modules/');

function shortUrl(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const pk = url.indexOf('/packages/');
  if (pk >= 0) return url.slice(pk + 1);
  return url.replace(/^file:\/\//, '');
}

/** Self time by function of the samples taken between `fromUs` and `toUs` (V8's monotonic µs). */
export function summariseProfile(file: string, fromUs: number, toUs: number): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // Whether the nearest frame that is neither Node's own (`node:`) nor native is ratekeeper's; memoised per node.
  const owner = new Map<number, boolean>();
  const ownedByRk = (id: number): boolean => {
    const known = owner.get(id);
    if (known !== undefined) return known;
    const url = byId.get(id)?.callFrame.url ?? '';
    let v: boolean;
    if (url !== '' && !url.startsWith('node:')) v = isRatekeeper(url);
    else {
      const up = parent.get(id);
      v = up !== undefined && ownedByRk(up);
    }
    owner.set(id, v);
    return v;
  };
  const self = new Map<string, number>();
  let t = profile.startTime;
  let totalUs = 0;
  let ratekeeperUs = 0;
  let ratekeeperAttributedUs = 0;
  const rkSelf = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (t < fromUs || t > toUs) continue;
    const id = profile.samples[i] as number;
    const node = byId.get(id);
    if (node === undefined || node.callFrame.functionName === '(idle)') continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = shortUrl(url);
    // tsx hands V8 transpiled sources, so line numbers of .ts files say nothing; names do.
    const loc = where === '' ? '' : where.endsWith('.ts') ? ` (${where})` : ` (${where}:${lineNumber + 1})`;
    const name = functionName || '(anonymous)';
    const fn = `${name.length > 60 ? `${name.slice(0, 57)}...` : name}${loc}`;
    self.set(fn, (self.get(fn) ?? 0) + dt);
    totalUs += dt;
    if (isRatekeeper(url)) ratekeeperUs += dt;
    if (ownedByRk(id)) {
      ratekeeperAttributedUs += dt;
      rkSelf.set(fn, (rkSelf.get(fn) ?? 0) + dt);
    }
  }
  const sorted = (m: Map<string, number>): SelfTime[] => [...m].map(([fn, us]) => ({ fn, us })).sort((a, b) => b.us - a.us);
  return { totalUs, top: sorted(self), ratekeeperUs, ratekeeperAttributedUs, ratekeeperTop: sorted(rkSelf) };
}
