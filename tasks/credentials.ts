/**
 * Credentials the configuration names by reference ({ env: NAME } or { file: path }), each kept by
 * a secret task of its own, so they are encrypted in the state, redacted everywhere, and
 * fingerprinted with the state key (a changed credential reruns what uses it; the state never
 * holds even its hash in clear).
 *
 * A credential is read by its task, when a run or a plan needs it, never when the Nubfile loads:
 * `nub list`, `nub graph` and `nub destroy --dry-run` work without it. The task's preflight reads
 * it before anything of the run starts, so a run that needs one that is missing stops with a line
 * naming the field and the variable or file (exit 2), with nothing applied.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { task, type Task } from 'nub';
import type { NubladoConfig } from '../lib/config/nublado.ts';
import type { SecretRef } from '../lib/config/schema.ts';

/** Environment variables, as `process.env` holds them. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** A credential the configuration names, not read: the field that names it and what it points at. */
export interface Credential {
	/** The configuration field, as messages name it: `oauth.clientSecret`. */
	field: string;
	ref: SecretRef;
	/** Throws a CredentialError, without repeating the value, when the value cannot be used. */
	accept?(value: string): void;
}

/** The credentials a configuration names, by what uses them; none is read here. */
export interface Credentials {
	oauthClientSecret?: Credential;
	tsigSecret?: Credential;
	rabbitmqPassword?: Credential;
}

/** The credentials `config` names (only those of the providers and components it switches on). */
export function credentialsOf(config: NubladoConfig): Credentials {
	const credentials: Credentials = {};
	if (config.oauth.clientSecret) credentials.oauthClientSecret = { field: 'oauth.clientSecret', ref: config.oauth.clientSecret };
	if (config.dns.provider === 'rfc2136') credentials.tsigSecret = { field: 'dns.keySecret', ref: config.dns.keySecret };
	if (config.logging.enabled) {
		credentials.rabbitmqPassword = {
			field: 'logging.rabbitmqPassword',
			ref: config.logging.rabbitmqPassword,
			accept: value => {
				// logstash-rabbitmq-shovel writes it into an amqp:// URI with sed s/.../.../: these would
				// end the expression or the URI's user part, and the shovel would never connect.
				const refused = /[/&\\@%"#?\s]/.exec(value);
				if (refused) throw new CredentialError(`logging.rabbitmqPassword: has ${JSON.stringify(refused[0])}, which logstashrmq cannot take (it puts the password into an amqp:// URI with sed): none of / & \\ @ % " # ? or white space`);
			},
		};
	}
	return credentials;
}

/**
 * A credential that cannot be read or used: names the field and the variable or file. Being
 * `located`, its `problems` (its one line) are shown by a preflight as they are, as the
 * configuration's problems are shown.
 */
export class CredentialError extends Error {
	override readonly name = 'CredentialError';
	readonly problems: readonly string[];
	/** Its line names the field and the variable or file: a preflight shows it without the task's name. */
	readonly located = true;
	constructor(message: string) {
		super(message);
		this.problems = [message];
	}
}

/**
 * The value a credential points at, trimmed of a final newline (files usually end with one), and
 * accepted. `root` is the folder relative file paths start from; `env` is read now.
 */
export function readCredential(credential: Credential, root: string, env: Environment): string {
	const { field, ref } = credential;
	let value: string;
	if ('env' in ref) {
		const text = env[ref.env];
		if (text === undefined || text === '') throw new CredentialError(`${field}: the environment variable ${ref.env} is not set`);
		value = text;
	} else {
		const path = isAbsolute(ref.file) ? ref.file : join(root, ref.file);
		try {
			value = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
		} catch (error) {
			throw new CredentialError(`${field}: cannot read ${ref.file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
		}
	}
	credential.accept?.(value);
	return value;
}

/** Where credentials are read from: the Nubfile's folder, and the environment (by default the process's, when a task reads it). */
export interface CredentialSource {
	root: string;
	env?: Environment;
}

/**
 * A secret task holding a credential's value, read when the task is fingerprinted (a run or a
 * plan), checked in its preflight, and returned by its run; never read when the Nubfile loads.
 */
export function credentialTask(name: string, group: string, credential: Credential, source: CredentialSource): Task<string> {
	// Read once per process: the run returns the value its cache key was computed from.
	let value: string | undefined;
	const read = () => (value ??= readCredential(credential, source.root, source.env ?? process.env));
	return task({
		name,
		group,
		description: `the ${name.replaceAll('-', ' ')}, from the configuration`,
		secret: true,
		inputs: { secret: read },
		// Read from the environment or a file, as a plan already reads it to fingerprint it.
		pure: true,
		preflight: () => void read(),
		run: () => read(),
	});
}
