/** At most `limit` holders at once; the rest wait in order. */
export class Semaphore {
  private held = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async acquire(): Promise<() => void> {
    if (this.held >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.held += 1;
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.held -= 1;
    };
  }
}
