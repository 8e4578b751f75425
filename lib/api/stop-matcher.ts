// OpenAI's `stop`: the answer ends before the first occurrence of any stop string, which is not
// returned. Streamed text is held back while its end could still be the start of a stop string,
// so a stop string split across tokens is never half sent.
export class StopMatcher {
  private pending = "";
  stopped = false;

  constructor(private readonly stops: string[]) {}

  /** Text that is safe to send now. After a stop string, `stopped` is true and nothing more is sent. */
  push(text: string): string {
    if (this.stopped) return "";
    if (this.stops.length === 0) return text;
    this.pending += text;
    let cut = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stopped = true;
      const out = this.pending.slice(0, cut);
      this.pending = "";
      return out;
    }
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pending.length); k > hold; k--) {
        if (this.pending.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return out;
  }

  /** The text held back, once the answer ended without a stop string. */
  flush(): string {
    if (this.stopped) return "";
    const out = this.pending;
    this.pending = "";
    return out;
  }
}
