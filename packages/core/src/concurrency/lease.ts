/** A held concurrency slot. */
export interface Lease {
  /** The key the slot belongs to. */
  readonly key: string;
  /** Frees the slot (the first call; later calls do nothing). Never rejects: a store failure leaves the lease to expire. */
  release(): Promise<void>;
  /**
   * Renews the lease for another `leaseMs` (a long job calls it before the lease runs out).
   * Resolves false when the lease had already expired: the slot may now be someone else's.
   */
  extend(): Promise<boolean>;
}
