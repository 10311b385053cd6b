// node:fs/promises is loaded on first use (it costs a start about 1 ms): most tasks declare no files.
import { promises as fs } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { canonicalJson, contentHash, nodeCrypto, shortDigest } from './json.ts';
import type { InputFingerprint } from './state-store.ts';
import type { TaskInputs } from './task.ts';

/**
 * The fingerprint of a task's declared inputs: its version, a hash of its configuration value,
 * and a content hash of each file or folder (for a secret file, an HMAC under the state key).
 * Recorded beside the key so that `nub plan` can name the input that changed.
 */
export async function fingerprintInputs(inputs: TaskInputs, root: string, secretDigest?: SecretDigest): Promise<InputFingerprint> {
	const fingerprint = { ...fingerprintValues(inputs, secretDigest) };
	if (inputs.files && inputs.files.length > 0) {
		const files: Record<string, string> = {};
		for (const path of inputs.files) {
			const secret = inputs.secretFiles?.includes(path) === true;
			if (secret && !secretDigest) throw new Error(`the secret input file "${path}" needs the state key to be fingerprinted`);
			// The digest of a secret file is keyed: its content goes in as base64 (the digest takes text).
			const digest = secret ? (content: Buffer) => secretDigest!(content.toString('base64')) : contentHash;
			files[path] = await hashPath(isAbsolute(path) ? path : join(root, path), path, digest);
		}
		fingerprint.files = files;
	}
	return fingerprint;
}

const noInputs: InputFingerprint = Object.freeze({});

/** Digests a secret input under the state key (an HMAC): a plain hash of a password can be guessed. */
export type SecretDigest = (text: string) => string;

/**
 * The part of the fingerprint that needs no I/O: enough for tasks that declare no files (a secret
 * input given as a function reads its value now). A secret input is digested with `secretDigest`
 * (the sealer's keyed digest), never hashed in clear.
 */
export function fingerprintValues(inputs: TaskInputs, secretDigest?: SecretDigest): InputFingerprint {
	if (inputs.version === undefined && inputs.config === undefined && inputs.secret === undefined) return noInputs;
	const fingerprint: InputFingerprint = {};
	if (inputs.version !== undefined) fingerprint.version = inputs.version;
	if (inputs.config !== undefined) fingerprint.config = contentHash(canonicalJson(inputs.config));
	if (inputs.secret !== undefined) {
		if (!secretDigest) throw new Error('a secret input needs the state key to be fingerprinted');
		const secret = typeof inputs.secret === 'function' ? inputs.secret() : inputs.secret;
		fingerprint.secret = secretDigest(canonicalJson(secret));
	}
	return fingerprint;
}

/**
 * A file's content hash, or a folder's hash over its entries' relative paths and contents;
 * `digest` hashes one file's content (keyed, for a secret file).
 */
async function hashPath(path: string, shown: string, digest: (content: Buffer) => string): Promise<string> {
	let info;
	try {
		info = await fs.stat(path);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
			throw new Error(`declared input "${shown}" does not exist`);
		}
		throw error;
	}
	if (!info.isDirectory()) return digest(await fs.readFile(path));
	const hash = nodeCrypto().createHash('sha256');
	const entries = (await fs.readdir(path, { recursive: true, withFileTypes: true }))
		.filter(entry => entry.isFile())
		.map(entry => join(entry.parentPath, entry.name))
		.sort();
	for (const file of entries) {
		hash.update(`${relative(path, file)}\0${digest(await fs.readFile(file))}\n`);
	}
	return shortDigest(hash.digest());
}
