/**
 * The sandbox's TLS material and bearer tokens, made on first start and kept in the state folder
 * (files 0600), so a restarted sandbox presents the same CA and accepts the same kubeconfig.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, makeServerCert } from '../crypto/index.ts';

/** A user the sandbox knows, with what it may do. */
export interface SandboxUser {
	/** The name Status messages use (`User "viewer" cannot ...`). */
	name: string;
	token: string;
	/** A read-only user may get, list and watch, Secrets aside (as Kubernetes' `view` role); anything else is 403 Forbidden. */
	readOnly: boolean;
}

/** What a started sandbox needs to serve TLS and check tokens. */
export interface Credentials {
	caPem: string;
	certPem: string;
	keyPem: string;
	admin: SandboxUser;
	viewer: SandboxUser;
}

interface TokenFile {
	admin: string;
	viewer: string;
}

/** Reads the credentials kept in `dir`, making whichever are missing. */
export function loadOrMakeCredentials(dir: string): Credentials {
	const path = (name: string) => join(dir, name);
	let caPem = readIfExists(path('ca.crt'));
	let caKey = readIfExists(path('ca.key'));
	if (caPem === undefined || caKey === undefined) {
		const ca = makeCa({ commonName: 'nub sandbox CA' });
		({ certPem: caPem, keyPem: caKey } = ca);
		writeSecretFile(path('ca.key'), caKey);
		writeSecretFile(path('ca.crt'), caPem);
	}
	let certPem = readIfExists(path('server.crt'));
	let keyPem = readIfExists(path('server.key'));
	if (certPem === undefined || keyPem === undefined) {
		const server = makeServerCert({ certPem: caPem, keyPem: caKey }, { hostname: 'localhost', altNames: ['127.0.0.1'] });
		({ certPem, keyPem } = server);
		writeSecretFile(path('server.key'), keyPem);
		writeSecretFile(path('server.crt'), certPem);
	}
	const tokenText = readIfExists(path('tokens.json'));
	const tokens: TokenFile = tokenText === undefined ? { admin: newToken(), viewer: newToken() } : (JSON.parse(tokenText) as TokenFile);
	if (tokenText === undefined) writeSecretFile(path('tokens.json'), `${JSON.stringify(tokens, null, '\t')}\n`);
	return {
		caPem,
		certPem,
		keyPem,
		admin: { name: 'admin', token: tokens.admin, readOnly: false },
		viewer: { name: 'viewer', token: tokens.viewer, readOnly: true },
	};
}

/** Writes a file only its owner may read. */
export function writeSecretFile(path: string, content: string): void {
	writeFileSync(path, content, { mode: 0o600 });
}

function newToken(): string {
	return randomBytes(32).toString('base64url');
}

function readIfExists(path: string): string | undefined {
	try {
		return readFileSync(path, 'utf8');
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
		throw error;
	}
}
