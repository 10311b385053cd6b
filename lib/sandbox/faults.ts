/**
 * Injected faults: what a flaky cluster or network does to API requests (slowness, 500/503
 * errors, dropped connections, 429 throttling), decided per request by a seeded generator so a
 * test that sets a seed sees the same faults on the same requests every run.
 */

/** Which faults to inject; rates are probabilities per request, 0..1. */
export interface FaultOptions {
	/** Delay before answering any request. */
	latencyMs?: number;
	/** Answered 500 or 503 with a Status. */
	errorRate?: number;
	/** The connection is destroyed without an answer. */
	resetRate?: number;
	/** Answered 429 with Retry-After. */
	throttleRate?: number;
	/** The Retry-After of throttled requests; default 1. */
	retryAfterSeconds?: number;
	/** Seed of the generator; default random. */
	seed?: number;
}

/** A fault injected into one request. */
export type FaultKind =
	/** Answered 500 or 503. */
	| 'error'
	/** Connection destroyed. */
	| 'reset'
	/** Answered 429. */
	| 'throttle';

/** What happens to one request. */
export interface FaultDecision {
	latencyMs: number;
	fault?: FaultKind;
	/** For `error`: which code. */
	code?: 500 | 503;
}

/** Draws fault decisions, one per request, in request order. */
export class FaultInjector {
	private options: FaultOptions = {};
	private random: () => number = Math.random;

	constructor(options: FaultOptions = {}) {
		this.set(options);
	}

	/** Replaces the options; a seed restarts the sequence. */
	set(options: FaultOptions): void {
		this.options = { ...options };
		this.random = mulberry32(options.seed ?? Math.floor(Math.random() * 2 ** 32));
	}

	/** Retry-After for throttled requests. */
	get retryAfterSeconds(): number {
		return this.options.retryAfterSeconds ?? 1;
	}

	/**
	 * Decides the next request's fate. Always four draws (reset, throttle, error, error code), so one rate
	 * being zero does not shift what the others decide for later requests.
	 */
	next(): FaultDecision {
		const { latencyMs = 0, resetRate = 0, throttleRate = 0, errorRate = 0 } = this.options;
		const [reset, throttle, error, which] = [this.random(), this.random(), this.random(), this.random()];
		if (reset < resetRate) return { latencyMs, fault: 'reset' };
		if (throttle < throttleRate) return { latencyMs, fault: 'throttle' };
		if (error < errorRate) return { latencyMs, fault: 'error', code: which < 0.5 ? 500 : 503 };
		return { latencyMs };
	}
}

/**
 * A small, fast 32-bit seeded generator (mulberry32), uniform in [0, 1): the same seed gives the
 * same numbers on every machine. The faults here, the bench's DAG and the tests' kill times use it.
 */
export function mulberry32(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
	};
}
