/**
 * The kubelet's restart back-off for one container (client-go's flowcontrol.Backoff as the kubelet
 * uses it): the first restart is immediate, then each waits `base`, doubling, up to `cap`; a
 * container that ran for more than twice the cap since the last back-off starts over.
 */
export class RestartBackOff {
  private current: number | undefined;
  private lastUpdate = 0;

  constructor(
    private readonly base: number,
    private readonly cap: number,
  ) {}

  /**
   * How long to wait, from `now`, before restarting a container that finished at `finishedAt`
   * (epoch milliseconds); counts the restart.
   *
   * @example
   * const backOff = new RestartBackOff(10_000, 300_000);
   * backOff.delayAfter(t, t); // 0; then 10 000, 20 000, 40 000, ... 300 000
   */
  delayAfter(finishedAt: number, now: number): number {
    if (this.current === undefined || finishedAt - this.lastUpdate > 2 * this.cap) {
      this.current = this.base;
      this.lastUpdate = now;
      return 0;
    }
    const wait = Math.max(0, finishedAt + this.current - now);
    this.current = Math.min(this.current * 2, this.cap);
    this.lastUpdate = now + wait;
    return wait;
  }

  /** The delay a restart after a failed pull (or mount) waits: `base` first, doubling up to `cap`. */
  nextRetry(): number {
    const wait = this.current ?? this.base;
    this.current = Math.min(wait * 2, this.cap);
    return wait;
  }
}
