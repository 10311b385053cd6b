import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync, ftruncateSync, chmodSync } from 'node:fs';
import { isAscii } from 'node:buffer';
import type { Hash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { statSync } from 'node:fs';
import { removeLeftovers, writeAside } from '../files/write-aside.ts';
import { NubError } from './errors.ts';
import { nodeCrypto, type Json } from './json.ts';
import { createSealer, type Sealer } from './sealer.ts';

/** What went into a task's cache key, kept so `nub plan` can say which part changed. */
export interface InputFingerprint {
	version?: string | number;
	/** Hash of the declared configuration value. */
	config?: string;
	/** Content hash of each declared file or folder, by path. */
	files?: Record<string, string>;
	/** Keyed digest (HMAC under the state key) of the declared secret input. */
	secret?: string;
	/** The shell command of a task made by `cmd()`, as written. */
	command?: string;
}

/**
 * A task that finished: what went into it (its inputs' fingerprint and the outputs of its needs)
 * and what it produced. Together with the task's name, what went into it is its cache key.
 */
export interface SuccessRecord {
	t: 'ok';
	name: string;
	/** Absent when the task declares no inputs. */
	inputs?: InputFingerprint;
	/**
	 * The output hash of each task needed, in the order of its needs, as one string of pairs
	 * `"name hash name hash"` (task names and hashes hold no spaces). One string rather than an
	 * object keyed by name (10,000 different key sets cost JSON.parse a hidden class each) or a
	 * list (a cached no-op would read and keep 60,000 strings instead of 10,000): see `depsMatch` in plan.ts.
	 */
	deps: string;
	outHash: string;
	/**
	 * The declared output files as this success left them, one string per declared path, in order:
	 * `"<hash> <stamp> <path>"` (see outputs.ts). `outHash` covers their hashes.
	 */
	outputs?: string[];
	/** The output, for a task that is not secret. */
	output?: Json;
	/** The output encrypted, for a secret task. */
	sealed?: string;
	/** When it finished (ms since the epoch) and how long it took (ms). */
	at: number;
	ms: number;
	/** The record's sequence number in the log (a sealed output is bound to it). */
	seq: number;
}

/** A task that failed or was interrupted: it reruns next time. */
export interface FailureRecord {
	t: 'fail';
	name: string;
	/** The error's first line, secrets redacted. */
	error: string;
	interrupted?: boolean;
	at: number;
	ms: number;
	seq: number;
}

/**
 * A task undone by `nub destroy` (its objects deleted) or whose objects `nub run --prune` deleted:
 * what was recorded of it before no longer counts. The task is as if it never ran.
 */
export interface GoneRecord {
	t: 'gone';
	name: string;
	at: number;
	seq: number;
}

/** The last success of a task, and its last failure when that came later. */
export interface TaskHistory {
	ok?: SuccessRecord;
	fail?: FailureRecord;
}

type StateRecord = SuccessRecord | FailureRecord | GoneRecord;
/**
 * Version 3 authenticates every line under the state key (see `StateStore`). Version 2 records a
 * success's needs as one string and no longer records keys. An older log is read (its records
 * converted as they load, numbered in order) and rewritten as version 3 before the first append.
 */
const version = 3;
/**
 * Every line of a version 3 log ends with its tag: `,"mac":"` (8 characters), 22 of base64url
 * (128 bits) and `"}`.
 */
const tagMarker = ',"mac":"';
const tagChars = 22;
const tagSuffixBytes = tagMarker.length + tagChars + 2;
/** How much of the log `parse` reads at a time: well under the 128 KiB past which V8 allocates a string as a large object. */
const blockBytes = 32 * 1024;

/** How a state is loaded. */
export interface LoadOptions {
	/** Holds the state key: it authenticates the log and opens sealed outputs. By default `.nub/key` in the state folder. */
	sealer?: Sealer;
	/**
	 * The folder of the high-water mark (`state.seq`), when it is not the state's own: a copy of the
	 * team state read into a temporary folder is held to the machine's mark.
	 */
	markDir?: string;
}

/**
 * The run state: an append-only log of JSON lines under `.nub/`, one record per finished task.
 *
 * Recording costs one write(2) of one line, so a run of 10,000 tasks does not rewrite the file
 * 10,000 times. A SIGKILL can only tear the last line: loading drops a torn last record and the
 * next write cuts it off, so the state is always readable and loses at most the tasks in flight.
 * Against power loss, writes are followed by an fdatasync that runs in the background, coalesced.
 * When superseded records outnumber live ones, the log is rewritten to a temporary file and
 * renamed over the old one (atomic), which keeps the cost per record O(1) amortized.
 */
/*
 * Authentication (version 3). Anyone who can write `.nub/state.jsonl` or the team-state Secret
 * must not be able to steer a run: add a record, drop one, swap two, or replay an old one.
 *
 *   line 1   {"nub":"state","version":3,"seq":B,"mac":T1}   T1 = HMAC(k, SHA-256(the bytes before ,"mac"))
 *   line i   {"t":...,"seq":S,"mac":Ti}                   Ti = HMAC(k, SHA-256(every byte of the
 *                                                                file before this line's ,"mac"))
 *
 * k is derived from the state key (`Sealer.recordKey`). Each tag covers the whole file before it,
 * the previous tags included: it chains over them, and the last whole line's tag vouches for all
 * of the log. Loading therefore costs one SHA-256 over the file and one HMAC (the other lines'
 * tags are checked only to name the first bad one); appending costs a copy of the running hash
 * and one HMAC. A torn last line (a crash mid-write) is not JSON and is dropped, as before.
 * Compaction re-tags the lines it keeps (each record keeps its number; B, the header's, is the
 * highest number the log had reached), so the new log's last tag again vouches for all of it.
 *
 * Every prefix of whole lines is itself valid: what catches a truncated log, or an older but
 * genuine copy put back, is the high-water mark `.nub/state.seq`, the highest number this
 * machine has written, itself tagged. A sealed output is bound to its task and its record's
 * number (AES-GCM associated data): moved to another record, it does not open.
 */
export class StateStore {
	readonly file: string;
	// Two maps rather than one of TaskHistory objects: a wrapper per task is 10,000 objects more
	// for a cached no-op to allocate and the garbage collector to copy.
	private readonly successes = new Map<string, SuccessRecord>();
	/** A task's failure since its last success. */
	private readonly failures = new Map<string, FailureRecord>();
	private lines = 0;
	/** The log is in an older format: it is rewritten before anything is appended to it. */
	private outdated = false;
	private validBytes = 0;
	private fileBytes = 0;
	private fd: number | undefined;
	/** The last whole record lacks its newline (a crash between the two is possible). */
	private missingNewline = false;
	private sealedExample: SuccessRecord | undefined;
	private readonly sealer: Sealer;
	private readonly markFile: string;
	/** The highest sequence number of the log (the header's, or its last record's). */
	private high = 0;
	/** The number of the high-water mark when loaded, or last written (0 with none). */
	private marked = 0;
	/** SHA-256 of the log's valid bytes so far (version 3): the next line's tag covers them. */
	private chain: Hash | undefined;
	/** The log was version 1 or 2 (unauthenticated): set until it is rewritten as version 3. */
	private upgradingFrom: number | undefined;
	private syncing = false;
	private syncAgain = false;
	private syncDone: Promise<void> = Promise.resolve();

	private constructor(
		readonly dir: string,
		/** What the state was loaded with: loading it again (under the lock) takes the same. */
		readonly options: LoadOptions,
	) {
		this.file = join(dir, 'state.jsonl');
		this.sealer = options.sealer ?? createSealer({ stateDir: dir });
		this.markFile = join(options.markDir ?? dir, 'state.seq');
	}

	/**
	 * Reads the state in `dir` (none yet is an empty state) and checks it: every line authentic
	 * under the state key, and the log not behind the high-water mark. Never writes.
	 */
	static load(dir: string, options: LoadOptions = {}): StateStore {
		const store = new StateStore(dir, options);
		store.loadedStamp = stateStamp(dir);
		// The mark before the log: a run appends to the log before it raises the mark, so a log read
		// after its mark holds every record the mark counts, even while a run writes both.
		const markText = store.readMark();
		let bytes: Buffer | undefined;
		try {
			bytes = readFileSync(store.file);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
				throw new NubError('state', `cannot read ${store.file}: ${(error as Error).message}`, { cause: error });
			}
		}
		if (bytes) store.parse(bytes);
		store.checkMark(bytes !== undefined, markText);
		return store;
	}

	/**
	 * Told once when an older, unauthenticated log is rewritten as version 3 under the state key
	 * (at its first append): the CLI says so.
	 */
	onUpgrade: ((message: string) => void) | undefined;

	/** The sequence number the next record appended gets: a secret output is sealed for it. */
	nextSeq(): number {
		return this.high + 1;
	}

	private loadedStamp = '';

	/**
	 * An empty state that keeps its records in memory only: for a run whose outcome is recorded
	 * elsewhere (`nub destroy` runs the undo of each task on the scheduler, and records in the real
	 * state that the task is gone).
	 */
	static inMemory(): StateStore {
		// Its records are never written, so never tagged: a key of its own, never kept.
		const store = new StateStore('', { sealer: createSealer({ stateDir: '', fromEnvironment: nodeCrypto().randomBytes(32).toString('hex') }) });
		store.memoryOnly = true;
		return store;
	}

	private memoryOnly = false;

	/**
	 * True when the file is no longer the one loaded (another run wrote it meanwhile): a state read
	 * before taking the lock is read again after.
	 */
	changedOnDisk(): boolean {
		return stateStamp(this.dir) !== this.loadedStamp;
	}

	/**
	 * Parses the log, a block of whole lines at a time: the block's first and last newline become
	 * `[` and `]` in the buffer, the text read from it has its other newlines turned into commas,
	 * and it is parsed as one JSON array. One parse per block rather than per record (parsing is
	 * most of a cached no-op's reading), with blocks small enough for their text to be short-lived
	 * garbage: the whole log as one string (2.4 MB for 10,000 tasks) would take a full garbage
	 * collection to free. Only when a block fails to parse are its lines parsed one by one, to name
	 * the corrupt line. A last line without its newline is kept when it is a whole record and
	 * dropped when it is torn.
	 */
	private parse(bytes: Buffer) {
		this.fileBytes = bytes.length;
		const headerEnd = bytes.indexOf(10);
		const lastNewline = bytes.lastIndexOf(10);
		const tail = bytes.toString('utf8', lastNewline + 1);
		let header: { nub?: string; version?: number; seq?: unknown } | undefined;
		try {
			header = JSON.parse(headerEnd === -1 ? tail : bytes.toString('utf8', 0, headerEnd));
		} catch {
			if (headerEnd === -1) {
				// A crash while writing the header itself: an empty state.
				return;
			}
			throw this.corrupt(1, 'is not JSON');
		}
		if (header?.nub !== 'state') throw this.corrupt(1, 'is not a nub state header');
		if (header.version !== version && header.version !== 2 && header.version !== 1) {
			// A newer nub's state is not corrupt: say so, and do not advise throwing it away.
			throw new NubError('state', `${this.file} was written by a nub that keeps its state in version ${JSON.stringify(header.version)}; this nub reads versions 1 to ${version}: run that nub (or a newer one)`);
		}
		const check = header.version === 1 ? checkRecordV1 : header.version === 2 ? checkRecordV2 : checkRecord;
		this.outdated = header.version !== version;
		if (this.outdated) {
			this.upgradingFrom = header.version;
		} else {
			if (!Number.isSafeInteger(header.seq) || (header.seq as number) < 0) throw this.corrupt(1, 'has no sequence number');
			this.high = header.seq as number;
		}
		// The last whole line: the tail when it is a record, else the line before the last newline.
		let tailRecord: unknown;
		if (tail.length > 0 && headerEnd !== -1) {
			try {
				tailRecord = JSON.parse(tail);
			} catch {
				tailRecord = undefined; // Torn by a crash mid-write: dropped, and cut off at the next write.
			}
			// A line cut short is not JSON: a version 3 one that is JSON is whole, and must hold (an
			// older log's is dropped as before).
			if (tailRecord !== undefined && this.outdated && check(tailRecord) !== undefined) tailRecord = undefined;
		}
		if (!this.outdated) this.authenticate(bytes, headerEnd === -1 || tailRecord !== undefined ? bytes.length : lastNewline);
		const tailProblem = tailRecord === undefined ? undefined : check(tailRecord);
		if (tailProblem) throw this.corrupt(bytes.toString('latin1').split('\n').length, tailProblem);
		if (headerEnd === -1) {
			this.lines = 1;
			this.validBytes = bytes.length;
			this.missingNewline = true;
			return;
		}
		// Latin-1 reads ASCII as UTF-8 does, without the copy the UTF-8 decoder makes.
		const encoding = isAscii(bytes) ? 'latin1' : 'utf8';
		this.lines = 1;
		for (let start = headerEnd; start < lastNewline; ) {
			// The block ends at the last newline within blockBytes of its start or, after a longer
			// line, at the next one. (The start's own newline is a bracket by now: never found.)
			let end = start + blockBytes < lastNewline ? bytes.lastIndexOf(10, start + blockBytes) : lastNewline;
			if (end <= start) end = bytes.indexOf(10, start + 1);
			bytes[start] = 0x5b; // [
			bytes[end] = 0x5d; // ]
			const text = bytes.toString(encoding, start, end + 1);
			let records: unknown[] | undefined;
			try {
				records = JSON.parse(text.replaceAll('\n', ',')) as unknown[];
			} catch {
				records = undefined;
			}
			if (records === undefined || records.some(record => check(record) !== undefined)) {
				this.findCorruptLine(text.slice(1, -1), this.lines, check);
			}
			if (header.version === 1) records = records.map(upgrade);
			for (let i = 0; i < records.length; i++) this.loadRecord(records[i] as StateRecord, this.lines + 1 + i);
			this.lines += records.length;
			start = end;
		}
		this.validBytes = lastNewline + 1;
		this.missingNewline = false;
		if (tailRecord !== undefined) {
			this.loadRecord((header.version === 1 ? upgrade(tailRecord) : tailRecord) as StateRecord, this.lines + 1);
			this.lines++;
			this.validBytes = bytes.length;
			this.missingNewline = true;
		}
	}

	/** The number of the last record loaded or written (a compacted log's records may be below the header's). */
	private lastSeq = 0;

	/** Applies one record as it loads: an older log's records are numbered here, in order. */
	private loadRecord(record: StateRecord, line: number) {
		if (this.outdated) {
			record.seq = ++this.high;
		} else {
			// Authentic lines are in order; this catches a nub that wrote them out of it.
			if (record.seq <= this.lastSeq) throw this.corrupt(line, `is out of sequence (${record.seq} after ${this.lastSeq})`);
			this.lastSeq = record.seq;
			if (record.seq > this.high) this.high = record.seq;
		}
		this.apply(record);
	}

	/**
	 * Checks the tag of the last whole line, which ends at `end`: it covers the whole log. On a
	 * mismatch the lines are checked one by one, to name the first that fails. Leaves `chain` holding
	 * the hash of the valid bytes (up to `end`, and the newline after it if there is one).
	 */
	private authenticate(bytes: Buffer, end: number) {
		const key = this.sealer.recordKey(false);
		if (!key) {
			throw new NubError('state', `${this.file} is authenticated under the state key, which is missing: set NUB_STATE_KEY or restore ${this.sealer.keyOrigin}`);
		}
		const start = end === 0 ? 0 : bytes.lastIndexOf(10, end - 1) + 1;
		if (!hasTag(bytes, start, end)) this.findForgedLine(bytes, end, key);
		const hash = nodeCrypto().createHash('sha256');
		hash.update(bytes.subarray(0, end - tagSuffixBytes));
		if (tagOf(key, hash.copy().digest()) !== bytes.toString('latin1', end - tagChars - 2, end - 2)) this.findForgedLine(bytes, end, key);
		hash.update(bytes.subarray(end - tagSuffixBytes, end < bytes.length ? end + 1 : end));
		this.chain = hash;
	}

	/**
	 * Throws the error naming the first line up to `end` that is not JSON (corrupt, as in an older
	 * log) or whose tag is not what the key makes of it (forged).
	 */
	private findForgedLine(bytes: Buffer, end: number, key: Buffer): never {
		const hash = nodeCrypto().createHash('sha256');
		let line = 0;
		for (let start = 0; start < end; ) {
			line++;
			let stop = bytes.indexOf(10, start);
			if (stop === -1 || stop > end) stop = end;
			// Not JSON: damage (a disk's, say), as in an older log. JSON that is not nub's: forged.
			if (line > 1) {
				try {
					JSON.parse(bytes.toString('utf8', start, stop));
				} catch {
					throw this.corrupt(line, 'is not JSON');
				}
			}
			if (!hasTag(bytes, start, stop)) throw this.forged(line, 'has no tag');
			hash.update(bytes.subarray(start, stop - tagSuffixBytes));
			if (tagOf(key, hash.copy().digest()) !== bytes.toString('latin1', stop - tagChars - 2, stop - 2)) throw this.forged(line, 'fails authentication');
			hash.update(bytes.subarray(stop - tagSuffixBytes, stop + 1));
			start = stop + 1;
		}
		throw new Error(`${this.file}: the tag of the last line failed but no line's did`);
	}

	private forged(line: number, problem: string) {
		// The header is the first line any key checks: there, a wrong key is the likely cause.
		if (line === 1) {
			return new NubError(
				'state',
				`${this.file} line 1 ${problem} under the state key: the state key is wrong (${this.sealer.keyOrigin}), or the line was changed by hand; use the key the state was written with`,
			);
		}
		return new NubError(
			'state',
			`${this.file} line ${line} ${problem} under the state key: nub did not write it with this key (a line changed, added, moved or removed by hand, or the key is not the one the state was written with); restore the state from a copy you trust`,
		);
	}

	/** The high-water mark's text, if there is one. */
	private readMark(): string | undefined {
		try {
			return readFileSync(this.markFile, 'utf8');
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
			throw new NubError('state', `cannot read ${this.markFile}: ${(error as Error).message}`, { cause: error });
		}
	}

	/**
	 * Refuses a log behind the high-water mark: records this machine wrote are missing from it (it
	 * was truncated, or an older copy put back). Without the key there is nothing to check it with.
	 */
	private checkMark(exists: boolean, text: string | undefined) {
		if (text === undefined) return;
		const key = this.sealer.recordKey(false);
		if (!key) return;
		let mark: { seq?: unknown; mac?: unknown };
		try {
			mark = JSON.parse(text) as typeof mark;
		} catch {
			mark = {};
		}
		if (!Number.isSafeInteger(mark.seq) || mark.mac !== markTag(key, mark.seq as number)) {
			throw new NubError('state', `${this.markFile} fails authentication under the state key: it was changed by hand, or the key is not the one the state was written with`);
		}
		this.marked = mark.seq as number;
		if (this.upgradingFrom !== undefined) {
			// An older log is trusted once, to upgrade it. Once this machine wrote version 3, an
			// unauthenticated log in its place is a downgrade: anyone could have written it.
			throw new NubError(
				'state',
				`${this.file} is version ${this.upgradingFrom}, unauthenticated, but this machine already wrote version 3 records up to ${this.marked} (${this.markFile}): an older log was put back; restore the latest state (to start afresh on purpose, move both files away)`,
			);
		}
		if (this.high >= this.marked) return;
		const what = exists ? `${this.file} ends at record ${this.high}` : `${this.file} is missing`;
		throw new NubError(
			'state',
			`${what}, but this machine wrote records up to ${this.marked} (${this.markFile}): the log was cut short, or an older copy put back; restore the latest state (to start afresh on purpose, move both files away)`,
		);
	}

	/** Throws the error naming the first of `lines`, which follow line `before`, that is not a record. */
	private findCorruptLine(lines: string, before: number, check: (record: unknown) => string | undefined): never {
		let lineNumber = before;
		for (const line of lines.split('\n')) {
			lineNumber++;
			let record: unknown;
			try {
				record = JSON.parse(line);
			} catch {
				throw this.corrupt(lineNumber, 'is not JSON');
			}
			const problem = check(record);
			if (problem) throw this.corrupt(lineNumber, problem);
		}
		throw this.corrupt(lineNumber, 'is not JSON');
	}

	private corrupt(line: number, problem: string) {
		return new NubError(
			'state',
			`${this.file} line ${line} ${problem}: the state is corrupt; move the file away to start afresh (every task then reruns)`,
		);
	}

	private apply(record: StateRecord) {
		if (record.t === 'gone') {
			this.successes.delete(record.name);
			this.failures.delete(record.name);
			// The key check must not rely on a secret that no longer counts (and that compaction drops).
			if (this.sealedExample?.name === record.name) {
				this.sealedExample = undefined;
				for (const ok of this.successes.values()) {
					if (ok.sealed !== undefined) {
						this.sealedExample = ok;
						break;
					}
				}
			}
			return;
		}
		if (record.t === 'ok' && record.sealed !== undefined) this.sealedExample = record;
		if (record.t === 'ok') {
			this.successes.set(record.name, record);
			this.failures.delete(record.name);
		} else {
			this.failures.set(record.name, record);
		}
	}

	/** A secret task's record, if the state holds any: enough to check the state key against. */
	anySealed(): (SuccessRecord & { sealed: string }) | undefined {
		return this.sealedExample as (SuccessRecord & { sealed: string }) | undefined;
	}

	/** The task's last success and any failure since. */
	get(name: string): TaskHistory | undefined {
		const ok = this.successes.get(name);
		const fail = this.failures.get(name);
		return ok === undefined && fail === undefined ? undefined : { ok, fail };
	}

	/** The task's last success. */
	lastSuccess(name: string): SuccessRecord | undefined {
		return this.successes.get(name);
	}

	/** Whether the task failed (or was interrupted) since its last success. */
	failedSince(name: string): boolean {
		return this.failures.has(name);
	}

	/** Every task the state knows of. */
	*names(): IterableIterator<string> {
		yield* this.successes.keys();
		for (const name of this.failures.keys()) if (!this.successes.has(name)) yield name;
	}

	/**
	 * Appends a success; the task is cached from now on while what went into it stays the same. A
	 * sealed output must have been sealed for `nextSeq()`.
	 */
	recordSuccess(record: Omit<SuccessRecord, 't' | 'seq'>): void {
		this.append({ t: 'ok', ...record, seq: this.nextSeq() });
	}

	/** Appends a failure; the task reruns next time. */
	recordFailure(record: Omit<FailureRecord, 't' | 'seq'>): void {
		this.append({ t: 'fail', ...record, seq: this.nextSeq() });
	}

	/**
	 * Appends that the task is gone (`nub destroy` deleted what it made): from now on the state
	 * knows nothing of it, and it runs again as never run. Compaction drops it with its records.
	 */
	recordGone(name: string, at: number = Date.now()): void {
		if (!this.successes.has(name) && !this.failures.has(name)) return;
		this.append({ t: 'gone', name, at, seq: this.nextSeq() });
	}

	/**
	 * Appends the task's last success again with `output` in place of its output (what nub keeps
	 * for itself in it changed: orphans pruned). Its inputs, needs and output hash stay: nothing that
	 * depends on the task reruns for it. Not for a secret task.
	 */
	replaceOutput(name: string, output: Json, at: number = Date.now()): void {
		const ok = this.successes.get(name);
		if (!ok) throw new Error(`task "${name}" has no success to replace the output of`);
		if (ok.sealed !== undefined) throw new Error(`task "${name}" is secret: its output is sealed`);
		const failure = this.failures.get(name);
		const { t: _t, seq: _seq, ...rest } = withoutTag(ok);
		this.append({ t: 'ok', ...rest, output, at, seq: this.nextSeq() });
		// A failure since the success still stands: it follows the success again.
		if (failure) this.append({ ...withoutTag(failure), seq: this.nextSeq() });
	}

	private append(record: StateRecord) {
		if (this.memoryOnly) {
			this.high = record.seq;
			return this.apply(record);
		}
		const fd = this.openForAppend();
		if (record.seq !== this.high + 1) throw new Error(`record ${record.seq} of task "${record.name}" appended after ${this.high}`);
		// A record copied from a loaded one (`{ ...ok, sealed }`) brings that line's tag: not this one's.
		const line = this.tagged(this.chain!, JSON.stringify('mac' in record ? withoutTag(record) : record));
		try {
			writeSync(fd, line);
		} catch (error) {
			const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
			throw new NubError('state', `cannot write ${this.file} (${code}): task "${record.name}" and what ends after it are not recorded, and run again next time`, { cause: error });
		}
		this.fileBytes += Buffer.byteLength(line);
		this.lines++;
		this.high = this.lastSeq = record.seq;
		this.apply(record);
		this.scheduleSync();
		this.onAppend?.();
	}

	/**
	 * `json` (an object) as a line of the log, tagged: the tag covers what `chain` holds and the
	 * line up to it; `chain` then holds the whole line too.
	 */
	private tagged(chain: Hash, json: string): string {
		const body = json.slice(0, -1);
		chain.update(body);
		const suffix = `${tagMarker}${tagOf(this.recordKey(), chain.copy().digest())}"}\n`;
		chain.update(suffix);
		return body + suffix;
	}

	private macKey: Buffer | undefined;

	/** The records' key: made with the state key if there is none yet (a new state). */
	private recordKey(): Buffer {
		this.macKey ??= this.sealer.recordKey(true);
		if (!this.macKey) throw new NubError('state', `the state key is missing and cannot be made here: set NUB_STATE_KEY or restore ${this.sealer.keyOrigin}`);
		return this.macKey;
	}

	/**
	 * Told after every record appended (the file holds it by then): team state uploads the file
	 * to the cluster from here.
	 */
	onAppend: (() => void) | undefined;

	/**
	 * Opens the log for appending, once: creates `.nub/` (0700) and the file (0600), cuts off a
	 * torn last line, and compacts the log when most of it is superseded.
	 */
	private openForAppend(): number {
		if (this.fd !== undefined) return this.fd;
		mkdirSync(this.dir, { recursive: true, mode: 0o700 });
		chmodSync(this.dir, 0o700);
		const live = this.successes.size + this.failures.size;
		if (this.lines === 0 || this.outdated || this.lines > 2 * live + 1000) {
			this.rewrite();
		} else if (this.validBytes < this.fileBytes) {
			const fd = openSync(this.file, 'r+');
			ftruncateSync(fd, this.validBytes);
			closeSync(fd);
			this.fileBytes = this.validBytes;
		}
		this.fd = openSync(this.file, 'a', 0o600);
		if (this.missingNewline) {
			writeSync(this.fd, '\n');
			this.chain!.update('\n');
		}
		this.missingNewline = false;
		return this.fd;
	}

	/**
	 * Writes the live records to a new file and renames it over the log, both flushed: after a
	 * crash the log is the old one or the whole new one. The temporary file of a rewrite that a
	 * kill interrupted is removed first.
	 */
	private rewrite() {
		removeLeftovers(this.file);
		const upgradingFrom = this.upgradingFrom;
		if (upgradingFrom !== undefined) this.sealBound();
		const chain = nodeCrypto().createHash('sha256');
		let text = this.tagged(chain, JSON.stringify({ nub: 'state', version, seq: this.high }));
		let lines = 1;
		// In the order they were appended: a failure is since the success, and must follow it.
		const records = [...this.successes.values(), ...this.failures.values()].sort((a, b) => a.seq - b.seq);
		for (const record of records) {
			text += this.tagged(chain, JSON.stringify(withoutTag(record)));
			lines++;
		}
		writeAside(this.file, text, { mode: 0o600, fsync: true });
		this.chain = chain;
		this.lines = lines;
		this.lastSeq = records.at(-1)?.seq ?? 0;
		this.fileBytes = this.validBytes = Buffer.byteLength(text);
		this.missingNewline = false;
		this.outdated = false;
		this.upgradingFrom = undefined;
		if (upgradingFrom !== undefined) {
			this.onUpgrade?.(`the state log ${this.file} was version ${upgradingFrom}, unauthenticated: it is now version ${version}, each record authenticated under the state key`);
		}
	}

	/** Seals an older log's secret outputs again, bound to their task and record (an upgrade). */
	private sealBound() {
		for (const [name, ok] of this.successes) {
			if (ok.sealed === undefined || !ok.sealed.startsWith('v1.')) continue;
			const plaintext = this.sealer.open(ok.sealed, `task "${name}"`, ok);
			const bound = { ...ok, sealed: this.sealer.seal(plaintext, ok) };
			this.successes.set(name, bound);
			if (this.sealedExample?.name === name) this.sealedExample = bound;
		}
	}

	private scheduleSync() {
		if (this.syncing) {
			this.syncAgain = true;
			return;
		}
		this.syncing = true;
		const fd = this.fd!;
		this.syncDone = new Promise(resolve => {
			const loop = () => {
				fdatasync(fd, () => {
					if (this.syncAgain) {
						this.syncAgain = false;
						loop();
					} else {
						this.syncing = false;
						resolve();
					}
				});
			};
			loop();
		});
	}

	/**
	 * Waits for pending writes to reach the disk and closes the log; then raises the high-water
	 * mark to what the log now holds (never past what is on disk).
	 */
	async close(): Promise<void> {
		if (this.memoryOnly) return;
		if (this.fd !== undefined) {
			await this.syncDone;
			fsyncSync(this.fd);
			closeSync(this.fd);
			this.fd = undefined;
		}
		// Also when this run appended nothing: a killed run's records are marked by the next run
		// that closes the state (the lock's holder: run and destroy close it, reads never do).
		if (this.high > this.marked) {
			mkdirSync(dirname(this.markFile), { recursive: true, mode: 0o700 });
			writeAside(this.markFile, `${JSON.stringify({ seq: this.high, mac: markTag(this.recordKey(), this.high) })}\n`, { mode: 0o600, fsync: true });
			this.marked = this.high;
		}
	}
}

/** A line's tag: the HMAC of the hash of the log before it, cut to 128 bits. */
function tagOf(key: Buffer, digest: Buffer): string {
	return nodeCrypto().createHmac('sha256', key).update(digest).digest().subarray(0, 16).toString('base64url');
}

/** A success record's output: as recorded, or opened when it is sealed (a secret task's). */
export function recordedOutput(name: string, ok: SuccessRecord, sealer: Sealer): Json {
	return ok.sealed === undefined ? (ok.output ?? null) : (JSON.parse(sealer.open(ok.sealed, `task "${name}"`, ok)) as Json);
}

/** The high-water mark's tag. */
function markTag(key: Buffer, seq: number): string {
	return tagOf(key, Buffer.from(`nub state high-water mark\n${seq}`));
}

/** Whether the line from `start` to `end` ends as a tagged line does: `,"mac":"<22>"}`. */
function hasTag(bytes: Buffer, start: number, end: number): boolean {
	if (end - start < tagSuffixBytes + 1) return false;
	const at = end - tagSuffixBytes;
	return bytes.toString('latin1', at, at + tagMarker.length) === tagMarker && bytes[end - 2] === 0x22 && bytes[end - 1] === 0x7d;
}

/** A record as loaded, without its tag (a line's own: it is made again when the line is written). */
function withoutTag<T extends StateRecord>(record: T): T {
	const { mac: _mac, ...rest } = record as T & { mac?: string };
	return rest as T;
}

/** Version 3: a version 2 record with its sequence number; a sealed output is bound (`v2.`). */
function checkRecord(record: unknown): string | undefined {
	const problem = checkRecordV2(record);
	if (problem) return problem;
	const r = record as { seq?: unknown; sealed?: unknown };
	if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1) return 'has no sequence number';
	if (r.sealed !== undefined && (typeof r.sealed !== 'string' || !r.sealed.startsWith('v2.'))) return 'has a secret output not bound to its record';
	const outputs = (record as { outputs?: unknown }).outputs;
	if (outputs !== undefined && (!Array.isArray(outputs) || !outputs.every(line => typeof line === 'string'))) return 'has output files that are not a list of strings';
	return undefined;
}

function checkRecordV2(record: unknown): string | undefined {
	if (typeof record !== 'object' || record === null) return 'is not a record';
	const r = record as Partial<SuccessRecord | FailureRecord> | Partial<GoneRecord>;
	if (r.t !== 'ok' && r.t !== 'fail' && r.t !== 'gone') return 'has no record type';
	if (typeof r.name !== 'string') return 'has no task name';
	if (r.t === 'ok' && typeof r.outHash !== 'string') return 'has no output hash';
	if (r.t === 'ok' && typeof r.deps !== 'string') return 'has no needs';
	return undefined;
}

/** Version 1: records have a key, and a success's needs are a list `[name, hash, ...]`. */
function checkRecordV1(record: unknown): string | undefined {
	if (typeof record !== 'object' || record === null) return 'is not a record';
	const r = record as { t?: unknown; name?: unknown; key?: unknown; outHash?: unknown; deps?: unknown };
	if (r.t !== 'ok' && r.t !== 'fail' && r.t !== 'gone') return 'has no record type';
	if (r.t === 'gone') return typeof r.name === 'string' ? undefined : 'has no task name';
	if (typeof r.name !== 'string' || typeof r.key !== 'string') return 'has no task name or key';
	if (r.t === 'ok' && typeof r.outHash !== 'string') return 'has no output hash';
	if (r.t === 'ok' && !Array.isArray(r.deps)) return 'has no list of needs';
	return undefined;
}

/** A version 1 record (checked) as version 2. */
function upgrade(record: unknown): StateRecord {
	const { key: _key, deps, ...rest } = record as StateRecord & { key?: string; deps?: string[] };
	return (deps === undefined ? rest : { ...rest, deps: deps.join(' ') }) as StateRecord;
}

/** A record's deps as an object: task name to output hash. */
export function depsMap(deps: string): Record<string, string> {
	const map: Record<string, string> = {};
	if (deps === '') return map;
	const parts = deps.split(' ');
	for (let i = 0; i + 1 < parts.length; i += 2) map[parts[i]!] = parts[i + 1]!;
	return map;
}

/** Deps for a record, from an object of task name to output hash. */
export function depsText(deps: Record<string, string>): string {
	let text = '';
	for (const name in deps) text += `${text === '' ? '' : ' '}${name} ${deps[name]}`;
	return text;
}

/**
 * The state log's stamp now (size, modification and change times, inode), `none` when there is no
 * log: any record appended or file put in its place changes it.
 */
export function stateStamp(dir: string): string {
	try {
		const info = statSync(join(dir, 'state.jsonl'), { bigint: true });
		return `${info.size}:${info.mtimeNs}:${info.ctimeNs}:${info.ino}`;
	} catch {
		return 'none';
	}
}
