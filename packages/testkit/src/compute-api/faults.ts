/**
 * Fault injection for the Compute API double: rules that match requests (by discovery method id, path
 * or HTTP method), let `after` matching calls through, then act on the next `times` ones.
 */

/** What a fault does to a request it fires on. */
export type ComputeFaultEffect =
  /** Hold the request this long before handling it. */
  | { kind: 'latency'; ms: number }
  /**
   * Refuse the request before it changes anything, with GCE's body for that status: 429
   * rateLimitExceeded, 403 (`reason`: rateLimitExceeded (default), userRateLimitExceeded, quotaExceeded, or
   * any other reason for a permission refusal), 401 authError, 500/503 backendError, 400 with `reason`
   * (badRequest by default; GCE's resourceNotReady for a resource not in a state to answer).
   */
  | { kind: 'http'; status: 400 | 401 | 403 | 429 | 500 | 503; reason?: string }
  /**
   * Accept the call and fail its operation: `status: DONE` with `error.errors[{ code, message }]`,
   * `httpErrorStatusCode` (default per code: QUOTA_EXCEEDED 403, ZONE_RESOURCE_POOL_EXHAUSTED 503, else
   * 400) and no change applied. Only mutating calls have operations; a rule with this effect matches
   * nothing else.
   */
  | { kind: 'operation-error'; code: string; message?: string; httpStatus?: number }
  /**
   * Close the connection without an answer. By default before anything changed; with `afterChange`, after
   * the call was accepted (its operation exists and runs), as when an answer is lost on the way back.
   */
  | { kind: 'drop'; afterChange?: boolean };

/** Which requests a fault applies to; every given field must match. */
export interface ComputeFaultMatch {
  /** Discovery-style method id, e.g. `compute.instances.insert`, `compute.zoneOperations.wait`. */
  method?: string;
  /** The URL path (no query): equal to a string, or tested by a RegExp. */
  path?: string | RegExp;
  /** GET, POST, PATCH, PUT, DELETE. */
  httpMethod?: string;
}

/** A fault rule as given to `faults.add`. */
export interface ComputeFaultRule {
  match: ComputeFaultMatch;
  /** Let this many matching calls through first (default 0). */
  after?: number;
  /** Act on this many matching calls, then stop (default 1; `Infinity` for every one). */
  times?: number;
  effect: ComputeFaultEffect;
}

/** A fault in force: its rule and how often it matched and fired. */
export interface ComputeFault {
  readonly rule: ComputeFaultRule;
  /** Matching calls seen so far (those let through included). */
  readonly seen: number;
  /** Calls it acted on. */
  readonly fired: number;
  /** Takes the fault out of force. */
  remove(): void;
}

/** The request facts a fault is matched against. */
export interface FaultSubject {
  method: string | undefined;
  path: string;
  httpMethod: string;
  mutating: boolean;
}

/** The set of faults a server consults for every request. */
export interface ComputeFaults {
  /** Puts a fault in force; returns it (with its counters). */
  add(rule: ComputeFaultRule): ComputeFault;
  /** Removes every fault. */
  clear(): void;
  /** The faults in force, oldest first. */
  readonly active: readonly ComputeFault[];
}

interface FaultState {
  rule: ComputeFaultRule;
  seen: number;
  fired: number;
}

function assertRule(rule: ComputeFaultRule): void {
  const { effect } = rule;
  const count = (value: number | undefined, name: string) => {
    if (
      value !== undefined &&
      !(value >= 0 && (Number.isInteger(value) || value === Number.POSITIVE_INFINITY))
    ) {
      throw new RangeError(`fault ${name} must be a whole number >= 0, got ${value}`);
    }
  };
  count(rule.after, 'after');
  count(rule.times, 'times');
  if (effect.kind === 'latency' && !(effect.ms >= 0)) throw new RangeError('fault latency ms must be >= 0');
  if (effect.kind === 'http' && ![400, 401, 403, 429, 500, 503].includes(effect.status)) {
    throw new RangeError(`fault http status must be 400, 401, 403, 429, 500 or 503, got ${effect.status}`);
  }
  if (effect.kind === 'operation-error' && effect.code.trim() === '') {
    throw new RangeError('fault operation-error code must not be empty');
  }
}

function matches(match: ComputeFaultMatch, subject: FaultSubject): boolean {
  if (match.method !== undefined && match.method !== subject.method) return false;
  if (match.httpMethod !== undefined && match.httpMethod.toUpperCase() !== subject.httpMethod) return false;
  if (match.path !== undefined) {
    if (typeof match.path === 'string' ? match.path !== subject.path : !match.path.test(subject.path))
      return false;
  }
  return true;
}

/** The fault registry behind `server.faults`, plus `take`, which the server calls once per request. */
export class FaultRegistry implements ComputeFaults {
  private readonly states: FaultState[] = [];

  add(rule: ComputeFaultRule): ComputeFault {
    assertRule(rule);
    const state: FaultState = { rule, seen: 0, fired: 0 };
    this.states.push(state);
    const states = this.states;
    return {
      rule,
      get seen() {
        return state.seen;
      },
      get fired() {
        return state.fired;
      },
      remove() {
        const index = states.indexOf(state);
        if (index >= 0) states.splice(index, 1);
      },
    };
  }

  clear(): void {
    this.states.length = 0;
  }

  get active(): readonly ComputeFault[] {
    return this.states.map((state) => ({
      rule: state.rule,
      seen: state.seen,
      fired: state.fired,
      remove: () => {
        const index = this.states.indexOf(state);
        if (index >= 0) this.states.splice(index, 1);
      },
    }));
  }

  /**
   * The effects that fire for this request, in the order the rules were added; counts the request
   * against every matching rule. Latency effects all apply; of the others, the first one wins.
   */
  take(subject: FaultSubject): ComputeFaultEffect[] {
    const effects: ComputeFaultEffect[] = [];
    for (const state of this.states) {
      if (!matches(state.rule.match, subject)) continue;
      if (state.rule.effect.kind === 'operation-error' && !subject.mutating) continue;
      state.seen += 1;
      const after = state.rule.after ?? 0;
      const times = state.rule.times ?? 1;
      if (state.seen <= after || state.fired >= times) continue;
      state.fired += 1;
      effects.push(state.rule.effect);
    }
    return effects;
  }
}
