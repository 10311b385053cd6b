import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { removeLeftovers, writeAside } from '../files/write-aside.ts';
import { nodeCrypto, shortDigest } from './json.ts';
import { NubError } from './errors.ts';

/**
 * Encrypts secret outputs for the state, and digests them for cache keys without exposing a
 * hash that could be checked against guesses (an HMAC under the state key, not a bare SHA-256).
 */
export interface Sealer {
	/** Seals a task's output for the state record numbered `binding.seq`. */
	seal(plaintext: string, binding: SealBinding): string;
	/**
	 * Throws a `state` NubError naming `what` when the key is wrong, the text was altered, or it
	 * was sealed for another task or another record than `binding` (a swap or a replay: AES-GCM
	 * cannot tell these from a wrong key, and the log's tags refuse a moved value first).
	 */
	open(sealed: string, what: string, binding: SealBinding): string;
	digest(plaintext: string): string;
	/**
	 * The key the state log's records are authenticated under, derived from the state key (HKDF),
	 * so the key that seals never also authenticates. Made, with the state key, when `create` and
	 * there is none yet (unless read-only); undefined when there is none.
	 */
	recordKey(create: boolean): Buffer | undefined;
	/** Where the state key comes from, for messages: `NUB_STATE_KEY` or the key file's path. */
	readonly keyOrigin: string;
}

/**
 * What a sealed value is bound to, as AES-GCM associated data: its task and the sequence number
 * of the record that holds it. A state record is one (its `name` and `seq`).
 */
export interface SealBinding {
	name: string;
	seq?: number;
}

/** Where the state key comes from: `NUB_STATE_KEY` (passed in by the CLI) or a key file. */
export interface StateKeySource {
	/** The key as given in the environment: 64 hex characters or base64 of 32 bytes. */
	fromEnvironment?: string;
	/** The state folder; the generated key lives in `key` inside it, mode 0600. */
	stateDir: string;
	/** Never make a key (`nub plan` writes nothing): sealing or digesting without one throws. */
	readOnly?: boolean;
}

/**
 * `v2`: bound to its task and record (associated data). `v1`, unbound, is what a version 2 state
 * holds: it is read only there (a version 3 log refuses it) and sealed again, bound, when the log
 * is upgraded.
 */
const version = 'v2';
const unboundVersion = 'v1';

/** The associated data of a bound value: its task and its record's sequence number. */
function associatedData(binding: SealBinding): Buffer {
	if (binding.seq === undefined) throw new Error(`the sealed output of task "${binding.name}" has no record sequence number to be bound to`);
	return Buffer.from(`nub sealed output\n${binding.name}\n${binding.seq}`);
}

/**
 * AES-256-GCM with a random 96-bit nonce per value; the result is `v2.<nonce>.<tag>.<ciphertext>`
 * in base64url. The key is read (or generated, for a new state) only when first needed, so runs
 * without secrets never touch it.
 */
export function createSealer(source: StateKeySource): Sealer {
	// A key file others can read is refused before anything runs, secrets or not (one stat).
	if (source.fromEnvironment === undefined) {
		const file = join(source.stateDir, 'key');
		try {
			refuseOpenKey(statSync(file).mode, file);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
		}
	}
	let key: Buffer | undefined;
	let recordKey: Buffer | undefined;
	const findKey = (create: boolean) => (key ??= loadKey(source, create && !source.readOnly));
	const getKey = (create: boolean) => {
		const found = findKey(create);
		if (!found) throw new NubError('state', `the state holds secrets but the state key is missing: set NUB_STATE_KEY or restore ${keyOrigin(source)}`);
		return found;
	};
	return {
		seal(plaintext, binding) {
			const nonce = nodeCrypto().randomBytes(12);
			const cipher = nodeCrypto().createCipheriv('aes-256-gcm', getKey(true), nonce);
			cipher.setAAD(associatedData(binding));
			const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
			return [version, nonce, cipher.getAuthTag(), body].map(p => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
		},
		open(sealed, what, binding) {
			const [v, nonce, tag, body] = sealed.split('.');
			if ((v !== version && v !== unboundVersion) || nonce === undefined || tag === undefined || body === undefined) {
				throw new NubError('state', `the secret output of ${what} in the state is not in a format this nub reads`);
			}
			let decipher;
			try {
				decipher = nodeCrypto().createDecipheriv('aes-256-gcm', getKey(false), Buffer.from(nonce, 'base64url'));
				decipher.setAuthTag(Buffer.from(tag, 'base64url'));
			} catch (error) {
				if (error instanceof NubError) throw error;
				throw new NubError('state', `the secret output of ${what} in the state is not in a format this nub reads`);
			}
			if (v === version) decipher.setAAD(associatedData(binding));
			try {
				return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
			} catch (error) {
				if (error instanceof NubError) throw error;
				throw new NubError(
					'state',
					`cannot decrypt the secret output of ${what}: the state key is wrong (${keyOrigin(source)}); use the key the state was written with`,
				);
			}
		},
		digest(plaintext) {
			return shortDigest(nodeCrypto().createHmac('sha256', getKey(true)).update(plaintext).digest());
		},
		keyOrigin: keyOrigin(source),
		recordKey(create) {
			if (recordKey) return recordKey;
			const stateKey = findKey(create);
			if (!stateKey) return undefined;
			recordKey = Buffer.from(nodeCrypto().hkdfSync('sha256', stateKey, Buffer.alloc(0), 'nub state log records v3', 32));
			return recordKey;
		},
	};
}

function keyOrigin(source: StateKeySource) {
	return source.fromEnvironment !== undefined ? 'NUB_STATE_KEY' : join(source.stateDir, 'key');
}

/** The state key; undefined when there is none and `create` is false. */
function loadKey(source: StateKeySource, create: boolean): Buffer | undefined {
	if (source.fromEnvironment !== undefined) return parseKey(source.fromEnvironment, 'NUB_STATE_KEY');
	const file = join(source.stateDir, 'key');
	let text = '';
	let fd: number | undefined;
	try {
		fd = openSync(file, 'r');
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
	}
	if (fd !== undefined) {
		try {
			// Checked again on the file opened: it cannot be swapped between the check and the read.
			refuseOpenKey(fstatSync(fd).mode, file);
			text = readFileSync(fd, 'utf8').trim();
		} finally {
			closeSync(fd);
		}
	}
	if (text !== '') return parseKey(text, file);
	if (!create) return undefined;
	// Written aside, flushed, then renamed into place and the folder flushed: a crash leaves no key
	// or the whole key, never a part, and a sealed record is only ever written after its key is on
	// disk. An empty file (an older nub's crash between creating and writing it) sealed nothing.
	const key = nodeCrypto().randomBytes(32);
	mkdirSync(source.stateDir, { recursive: true, mode: 0o700 });
	removeLeftovers(file);
	writeAside(file, `${key.toString('hex')}\n`, { mode: 0o600, fsync: true });
	return key;
}

/** As ssh does for a private key: a key file others may read or write is refused, not used. */
function refuseOpenKey(mode: number, file: string): void {
	if ((mode & 0o077) !== 0) {
		throw new NubError('state', `${file} is open to other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): the state key must be private; run chmod 600 ${file}`);
	}
}

function parseKey(text: string, origin: string): Buffer {
	const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
	if (key.length !== 32) {
		throw new NubError('state', `${origin} must hold a 256-bit key: 64 hex characters or base64 of 32 bytes`);
	}
	return key;
}
