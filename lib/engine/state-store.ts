import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync, ftruncateSync, chmodSync } from 'node:fs';
import { isAscii } from 'node:buffer';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { removeLeftovers, writeAside } from '../files/write-aside.ts';
import { NubError } from './errors.ts';
import type { Json } from './json.ts';

/** What went into a task's cache key, kept so `nub plan` can say which part changed. */
export interface InputFingerprint {
	version?: string | number;
	/** Hash of the declared configuration value. */
	config?: string;
	/** Content hash of each declared file or folder, by path. */
	files?: Record<string, string>;
	/** Keyed digest (HMAC under the state key) of the declared secret input. */
	secret?: string;
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
	/** The output, for a task that is not secret. */
	output?: Json;
	/** The output encrypted, for a secret task. */
	sealed?: string;
	/** When it finished (ms since the epoch) and how long it took (ms). */
	at: number;
	ms: number;
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
}

/**
 * A task undone by `nub destroy` (its objects deleted) or whose objects `nub run --prune` deleted:
 * what was recorded of it before no longer counts. The task is as if it never ran.
 */
export interface GoneRecord {
	t: 'gone';
	name: string;
	at: number;
}

/** The last success of a task, and its last failure when that came later. */
export interface TaskHistory {
	ok?: SuccessRecord;
	fail?: FailureRecord;
}

type StateRecord = SuccessRecord | FailureRecord | GoneRecord;
/**
 * Version 2 records a success's needs as one string and no longer records keys. A version 1 log
 * is read (its records converted as they load) and rewritten as version 2 before the first append.
 */
const version = 2;
const header = `{"nub":"state","version":${version}}\n`;
/** How much of the log `parse` reads at a time: well under the 128 KiB past which V8 allocates a string as a large object. */
const blockBytes = 32 * 1024;

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
	private sealedExample: { name: string; sealed: string } | undefined;
	private syncing = false;
	private syncAgain = false;
	private syncDone: Promise<void> = Promise.resolve();

	private constructor(readonly dir: string) {
		this.file = join(dir, 'state.jsonl');
	}

	/** Reads the state in `dir` (none yet is an empty state). Never writes. */
	static load(dir: string): StateStore {
		const store = new StateStore(dir);
		store.loadedStamp = stateStamp(dir);
		let bytes: Buffer;
		try {
			bytes = readFileSync(store.file);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'ENOENT') return store;
			throw new NubError('state', `cannot read ${store.file}: ${(error as Error).message}`, { cause: error });
		}
		store.parse(bytes);
		return store;
	}

	private loadedStamp = '';

	/**
	 * An empty state that keeps its records in memory only: for a run whose outcome is recorded
	 * elsewhere (`nub destroy` runs the undo of each task on the scheduler, and records in the real
	 * state that the task is gone).
	 */
	static inMemory(): StateStore {
		const store = new StateStore('');
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
		let header: { nub?: string; version?: number } | undefined;
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
		if (header.version !== version && header.version !== 1) {
			// A newer nub's state is not corrupt: say so, and do not advise throwing it away.
			throw new NubError('state', `${this.file} was written by a nub that keeps its state in version ${JSON.stringify(header.version)}; this nub reads versions 1 and ${version}: run that nub (or a newer one)`);
		}
		const check = header.version === 1 ? checkRecordV1 : checkRecord;
		this.outdated = header.version !== version;
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
			if (this.outdated) records = records.map(upgrade);
			for (let i = 0; i < records.length; i++) this.apply(records[i] as StateRecord);
			this.lines += records.length;
			start = end;
		}
		this.validBytes = lastNewline + 1;
		this.missingNewline = false;
		if (tail.length > 0) {
			let record: unknown;
			try {
				record = JSON.parse(tail);
			} catch {
				return; // Torn by a crash mid-write: dropped, and cut off at the next write.
			}
			if (check(record) !== undefined) return;
			this.apply((this.outdated ? upgrade(record) : record) as StateRecord);
			this.lines++;
			this.validBytes = bytes.length;
			this.missingNewline = true;
		}
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
						this.sealedExample = { name: ok.name, sealed: ok.sealed };
						break;
					}
				}
			}
			return;
		}
		if (record.t === 'ok' && record.sealed !== undefined) this.sealedExample = { name: record.name, sealed: record.sealed };
		if (record.t === 'ok') {
			this.successes.set(record.name, record);
			this.failures.delete(record.name);
		} else {
			this.failures.set(record.name, record);
		}
	}

	/** A secret output of the state, if it holds any: enough to check the state key against. */
	anySealed(): { name: string; sealed: string } | undefined {
		return this.sealedExample;
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

	/** Appends a success; the task is cached from now on while what went into it stays the same. */
	recordSuccess(record: Omit<SuccessRecord, 't'>): void {
		this.append({ t: 'ok', ...record });
	}

	/** Appends a failure; the task reruns next time. */
	recordFailure(record: Omit<FailureRecord, 't'>): void {
		this.append({ t: 'fail', ...record });
	}

	/**
	 * Appends that the task is gone (`nub destroy` deleted what it made): from now on the state
	 * knows nothing of it, and it runs again as never run. Compaction drops it with its records.
	 */
	recordGone(name: string, at: number = Date.now()): void {
		if (!this.successes.has(name) && !this.failures.has(name)) return;
		this.append({ t: 'gone', name, at });
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
		const { t: _t, ...rest } = ok;
		this.append({ t: 'ok', ...rest, output, at });
		// A failure since the success still stands: it follows the success again.
		if (failure) this.append(failure);
	}

	private append(record: StateRecord) {
		if (this.memoryOnly) return this.apply(record);
		const fd = this.openForAppend();
		const line = `${JSON.stringify(record)}\n`;
		writeSync(fd, line);
		this.fileBytes += Buffer.byteLength(line);
		this.lines++;
		this.apply(record);
		this.scheduleSync();
		this.onAppend?.();
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
		if (this.missingNewline) writeSync(this.fd, '\n');
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
		let text = header;
		let lines = 1;
		// Successes first: a failure is since the success, and must be applied after it.
		for (const record of [...this.successes.values(), ...this.failures.values()]) {
			text += `${JSON.stringify(record)}\n`;
			lines++;
		}
		writeAside(this.file, text, { mode: 0o600, fsync: true });
		this.lines = lines;
		this.fileBytes = this.validBytes = Buffer.byteLength(text);
		this.missingNewline = false;
		this.outdated = false;
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

	/** Waits for pending writes to reach the disk and closes the log. */
	async close(): Promise<void> {
		if (this.fd === undefined) return;
		await this.syncDone;
		fsyncSync(this.fd);
		closeSync(this.fd);
		this.fd = undefined;
	}
}

function checkRecord(record: unknown): string | undefined {
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
