/** What one look at the cluster found. */
export interface Observation<T> {
	/** The value waited for, once it is there. */
	value?: T;
	/** What was seen, for progress lines and the timeout message (`0/1 replicas available`). */
	seen: string;
}

export interface WaitOptions {
	/** What is awaited, for messages: `Service nublado/hub to get a ClusterIP`. */
	what: string;
	timeoutMs: number;
	signal?: AbortSignal;
	/** Told each time what is seen changes. */
	progress?: (line: string) => void;
	/** First pause between looks; it grows by half each time up to `maxIntervalMs`. */
	intervalMs?: number;
	maxIntervalMs?: number;
	/**
	 * Resolves when what is watched may have changed (a watch event), or after at most `maxMs`:
	 * the next look comes then instead of after the pause. Rejects only with the signal's reason.
	 */
	change?: (maxMs: number) => Promise<void>;
}

/** A wait that ran out of time, saying what it waited for and what it saw last. */
export class WaitTimeoutError extends Error {
	override readonly name = 'WaitTimeoutError';
}

/**
 * Looks with `observe` until it returns a value, until the deadline: after each look, when
 * `change` says something changed (a watch), else after a pause that backs off. Errors from
 * `observe` end the wait (it should retry transient ones itself).
 */
export async function waitUntil<T>(observe: () => Promise<Observation<T>>, options: WaitOptions): Promise<T> {
	const started = Date.now();
	const deadline = started + options.timeoutMs;
	let interval = options.intervalMs ?? 200;
	let last: string | undefined;
	for (;;) {
		options.signal?.throwIfAborted();
		const { value, seen } = await observe();
		if (value !== undefined) return value;
		if (seen !== last) {
			options.progress?.(`waiting for ${options.what}: ${seen}`);
			last = seen;
		}
		const left = deadline - Date.now();
		if (left <= 0) {
			throw new WaitTimeoutError(`timed out after ${formatSeconds(Date.now() - started)} waiting for ${options.what}; last seen: ${seen}`);
		}
		if (options.change) await options.change(left);
		else {
			await sleep(Math.min(interval, left), options.signal);
			interval = Math.min(interval * 1.5, options.maxIntervalMs ?? 5000);
		}
	}
}

/** Resolves after `ms`, or rejects with the signal's reason when it is aborted first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
	return new Promise((resolve, reject) => {
		if (signal?.aborted) return reject(signal.reason);
		const timer = setTimeout(() => {
			signal?.removeEventListener('abort', onAbort);
			resolve();
		}, ms);
		const onAbort = () => {
			clearTimeout(timer);
			reject(signal!.reason);
		};
		signal?.addEventListener('abort', onAbort, { once: true });
	});
}

function formatSeconds(ms: number): string {
	const seconds = Math.round(ms / 100) / 10;
	return seconds >= 120 ? `${Math.round(seconds / 60)} min` : `${seconds} s`;
}
