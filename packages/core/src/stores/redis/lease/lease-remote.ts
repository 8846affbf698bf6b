import { createHash } from 'node:crypto';
import type { ResolvedRule } from '../../../rules';
import { isNoScript, whenReady } from '../client';
import type { Connection } from '../connection';
import { hashTag } from '../keys';
import type { ScriptClock } from '../scripts/driver';
import type { Lease } from './lease';
import { buildLeaseScript, decodeLeaseReply, type LeaseReply } from './lease-script';

/** The Redis side of lease mode: one script call per refill or give-back. @internal */
export interface LeaseRemote {
  /**
   * Gives `give`'s unspent units back (when given), then asks for up to `want` units, at least
   * `cost` (else none: a denial). Resolves with `undefined` when Redis ran the call after its
   * deadline (nothing charged).
   */
  lease(key: string, now: number, want: number, cost: number, give: Lease | undefined): Promise<LeaseReply | undefined>;
  /** Gives `lease`'s unspent units back; resolves with the number of repaired values. */
  give(key: string, now: number, lease: Lease): Promise<number>;
}

/** What {@link RedisLeaseRemote} needs of its store. @internal */
export interface RemoteSettings {
  readonly connection: Connection;
  readonly rules: readonly ResolvedRule[];
  /** The limiter's full key prefix (store prefix + limiter prefix). */
  readonly prefix: string;
  readonly clock: ScriptClock;
  readonly slackMs: number;
  /** How long a call waits for a usable connection. */
  readonly timeoutMs: number;
  readonly lastError: () => unknown;
  /** Redis time after which a refill must not charge (−1: none). */
  readonly deadline: () => number;
}

/** @internal */
export class RedisLeaseRemote implements LeaseRemote {
  readonly #s: RemoteSettings;
  readonly #src: string;
  readonly #sha: string;
  readonly #heads: readonly string[];
  readonly #clientClock: boolean;

  constructor(settings: RemoteSettings) {
    this.#s = settings;
    this.#src = buildLeaseScript(settings.rules, settings.clock, settings.slackMs);
    this.#sha = createHash('sha1').update(this.#src).digest('hex');
    this.#heads = settings.rules.map((r) => `${settings.prefix}${r.id}:{`);
    this.#clientClock = settings.clock === 'argv';
  }

  lease(key: string, now: number, want: number, cost: number, give: Lease | undefined): Promise<LeaseReply | undefined> {
    const n = this.#heads.length;
    return this.#call(key, now, want, cost, give).then((r) => decodeLeaseReply(r, n));
  }

  give(key: string, now: number, lease: Lease): Promise<number> {
    return this.#call(key, now, 0, 0, lease).then((r) => Number(r));
  }

  #call(key: string, now: number, want: number, cost: number, give: Lease | undefined): Promise<unknown> {
    const tag = hashTag(key);
    const heads = this.#heads;
    const args: (string | number)[] = [this.#sha, heads.length];
    for (const head of heads) args.push(`${head}${tag}}`);
    args.push(this.#clientClock ? now : 0, want, cost, want > 0 ? this.#s.deadline() : -1);
    if (give === undefined) {
      args.push(0, 0, 0);
      for (let i = 0; i < heads.length; i++) args.push(0, '', 0);
    } else {
      args.push(give.n, give.spent, give.t0);
      for (const r of give.rules) args.push(r.b0, r.state, r.reserved);
    }
    const connection = this.#s.connection;
    const send = (): Promise<unknown> =>
      connection.evalsha(args).catch((error: unknown) => {
        // Only NOSCRIPT proves the script did not run (see BoundRedisStore#send).
        if (!isNoScript(error)) throw error;
        args[0] = this.#src;
        return connection.eval(args);
      });
    const ready = whenReady(connection, want > 0 ? 'consume' : 'refund', this.#s.timeoutMs, this.#s.lastError);
    return ready === undefined ? send() : ready.then(send);
  }
}
