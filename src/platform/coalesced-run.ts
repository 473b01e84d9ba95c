/**
 * Background work that runs one pass at a time: `request()` starts a pass now, or, while one is running,
 * asks for exactly one more right after it, however many requests arrive meanwhile. A failed pass is
 * reported to `onError` and does not stop later ones. The webhook dispatcher and delivery worker use it,
 * so a burst of commits or of freed slots costs one extra pass, not one each.
 */
export class CoalescedRun {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly onError: (error: unknown) => void,
    /** Checked before every pass, the follow-up included: false once the owner has stopped. */
    private readonly live: () => boolean = () => true,
  ) {}

  /** The pass in progress, for a caller stopping to wait for; resolved when there is none. */
  get settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  request(): void {
    if (!this.live()) return;
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .then(
        () => undefined,
        (error: unknown) => this.onError(error),
      )
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.request();
        }
      });
  }
}
