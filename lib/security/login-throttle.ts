// Login throttling per client address: a few free failures a minute, then an exponential
// back-off during which attempts are refused without looking at the token. The clock is
// injected so the behaviour is tested without waiting.

export interface LoginThrottleOptions {
  now?: () => number;
  /** failures older than this are forgotten */
  windowMs?: number;
  /** failures within the window that cost nothing */
  freeFailures?: number;
  /** longest back-off */
  maxDelayMs?: number;
  /** clients remembered at most (oldest dropped first), so a flood of addresses cannot exhaust memory */
  maxClients?: number;
}

export type ThrottleCheck = { ok: true } | { ok: false; retryAfterMs: number };

interface ClientState {
  failures: number[];
  blockedUntil: number;
}

export class LoginThrottle {
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly freeFailures: number;
  private readonly maxDelayMs: number;
  private readonly maxClients: number;
  private readonly clients = new Map<string, ClientState>();

  constructor(opts: LoginThrottleOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.windowMs = opts.windowMs ?? 60_000;
    this.freeFailures = opts.freeFailures ?? 5;
    this.maxDelayMs = opts.maxDelayMs ?? 60_000;
    this.maxClients = opts.maxClients ?? 10_000;
  }

  /** Whether `client` may try a token now. */
  check(client: string): ThrottleCheck {
    const state = this.clients.get(client);
    const t = this.now();
    if (state && t < state.blockedUntil) return { ok: false, retryAfterMs: state.blockedUntil - t };
    return { ok: true };
  }

  /** Records a wrong token; answers the failures within the window and the back-off now imposed. */
  fail(client: string): { failures: number; delayMs: number } {
    const t = this.now();
    const state = this.clients.get(client) ?? { failures: [], blockedUntil: 0 };
    this.clients.delete(client); // re-inserted last: the Map's order is the eviction order
    state.failures = state.failures.filter((at) => t - at < this.windowMs);
    state.failures.push(t);
    const over = state.failures.length - this.freeFailures;
    const delayMs = over > 0 ? Math.min(this.maxDelayMs, 1000 * 2 ** Math.min(over - 1, 30)) : 0;
    state.blockedUntil = t + delayMs;
    this.clients.set(client, state);
    while (this.clients.size > this.maxClients) this.clients.delete(this.clients.keys().next().value!);
    return { failures: state.failures.length, delayMs };
  }

  /** A right token clears the client's record. */
  succeed(client: string): void {
    this.clients.delete(client);
  }
}
