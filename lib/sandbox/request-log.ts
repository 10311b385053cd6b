/**
 * The sandbox's record of the requests it saw, for tests and the benchmark: a ring of the last
 * `capacity` (10,000) requests, so a sandbox serving for long, or flooded by anyone who can reach
 * its port (unauthenticated requests are recorded too), keeps a bounded amount of memory. A path
 * or query longer than `maxTextLength` (1,024 characters) is kept cut, with `…` at the end: the
 * real API's paths are a few hundred characters, and a flood of 16 KiB URLs would otherwise cost
 * 160 MiB.
 *
 * Indices are absolute: `length` counts every request recorded since the start, dropped ones
 * included, so `const mark = log.length; ...; log.slice(mark)` reads what came after the mark. A
 * read that would need a dropped record throws rather than answer with part of what was asked.
 */
import type { FaultKind } from './faults.ts';

/** One request as the sandbox saw it. */
export interface RequestRecord {
	method: string;
	/** The path (cut to `maxTextLength`). */
	path: string;
	/** The query string without `?`, '' when none (cut to `maxTextLength`). */
	query: string;
	/** The status code answered; 0 while unanswered, and for a reset connection. */
	status: number;
	/** The authenticated user's name; `system:anonymous` without a valid token. */
	user: string;
	/** The injected fault, if any. */
	fault?: FaultKind;
}

/** How many requests a log keeps. */
export const requestLogCapacity = 10_000;

/** The longest path or query kept whole. */
export const maxTextLength = 1024;

/** Cuts `text` to `maxTextLength` characters, the last of them `…`. */
export function cutText(text: string): string {
	return text.length > maxTextLength ? `${text.slice(0, maxTextLength - 1)}…` : text;
}

/** The last `capacity` requests, in arrival order, addressed by absolute index. */
export class RequestLog implements Iterable<RequestRecord> {
	readonly #ring: RequestRecord[] = [];
	#total = 0;

	constructor(readonly capacity = requestLogCapacity) {
		if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`Expected the request log's capacity to be a positive integer, got ${capacity}`);
	}

	/** How many requests were recorded since the start, dropped ones included: a mark for `slice`. */
	get length(): number {
		return this.#total;
	}

	/** The absolute index of the oldest record kept. */
	get first(): number {
		return Math.max(0, this.#total - this.capacity);
	}

	/** Records a request (dropping the oldest when full). */
	add(record: RequestRecord): void {
		this.#ring[this.#total % this.capacity] = record;
		this.#total++;
	}

	/**
	 * The records from absolute index `start` (default 0) up to `end` (default: the newest), as an
	 * array. Negative indices count from the end, as Array's do. Throws a RangeError when some of
	 * them were dropped.
	 */
	slice(start = 0, end = this.#total): RequestRecord[] {
		const from = start < 0 ? Math.max(0, this.#total + start) : Math.min(start, this.#total);
		const to = end < 0 ? Math.max(0, this.#total + end) : Math.min(end, this.#total);
		if (from < to && from < this.first) {
			throw new RangeError(`the sandbox keeps the last ${this.capacity} requests: request #${from} was asked for, the oldest kept is #${this.first}`);
		}
		const records: RequestRecord[] = [];
		for (let index = from; index < to; index++) records.push(this.#ring[index % this.capacity]!);
		return records;
	}

	/** The record at absolute index `index` (negative: from the end); undefined when out of range. */
	at(index: number): RequestRecord | undefined {
		const absolute = index < 0 ? this.#total + index : index;
		if (absolute < 0 || absolute >= this.#total) return undefined;
		if (absolute < this.first) throw new RangeError(`the sandbox keeps the last ${this.capacity} requests: request #${absolute} was dropped`);
		return this.#ring[absolute % this.capacity];
	}

	/** Every request since the start that matches (throws when some were dropped: see `slice`). */
	filter(predicate: (record: RequestRecord) => unknown): RequestRecord[] {
		return this.slice().filter(predicate);
	}

	/** Whether a request since the start matches (throws when some were dropped: see `slice`). */
	some(predicate: (record: RequestRecord) => unknown): boolean {
		return this.slice().some(predicate);
	}

	[Symbol.iterator](): Iterator<RequestRecord> {
		return this.slice()[Symbol.iterator]();
	}
}
