/**
 * Credentials the configuration names by reference ({ env: NAME } or { file: path }): read when the
 * Nubfile loads, kept by secret tasks, so they are encrypted in the state, redacted everywhere,
 * and fingerprinted with the state key (a changed credential reruns what uses it; the state never
 * holds even its hash in clear).
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { task, type Task } from 'nub';
import type { NubladoConfig } from '../lib/config/nublado.ts';
import type { SecretRef } from '../lib/config/schema.ts';

/** The credentials a configuration names, read. */
export interface Credentials {
	oauthClientSecret?: string;
	tsigSecret?: string;
	rabbitmqPassword?: string;
}

/** Reads every credential `config` names; throws one CredentialError listing each that cannot be read. */
export function readCredentials(config: NubladoConfig, root: string, env: Readonly<Record<string, string | undefined>>): Credentials {
	const credentials: Credentials = {};
	const problems: string[] = [];
	const read = (ref: SecretRef | undefined, field: string, set: (value: string) => void) => {
		if (!ref) return;
		try {
			set(readCredential(ref, field, root, env));
		} catch (error) {
			problems.push((error as Error).message);
		}
	};
	read(config.oauth.clientSecret, 'oauth.clientSecret', value => (credentials.oauthClientSecret = value));
	if (config.dns.provider === 'rfc2136') read(config.dns.keySecret, 'dns.keySecret', value => (credentials.tsigSecret = value));
	if (config.logging.enabled) {
		read(config.logging.rabbitmqPassword, 'logging.rabbitmqPassword', value => {
			// logstash-rabbitmq-shovel writes it into an amqp:// URI with sed s/.../.../: these would
			// end the expression or the URI's user part, and the shovel would never connect.
			const refused = /[/&\\@%"#?\s]/.exec(value);
			if (refused) throw new CredentialError(`logging.rabbitmqPassword: has ${JSON.stringify(refused[0])}, which logstashrmq cannot take (it puts the password into an amqp:// URI with sed): none of / & \\ @ % " # ? or white space`);
			credentials.rabbitmqPassword = value;
		});
	}
	if (problems.length > 0) throw Object.assign(new CredentialError(problems.join('\n')), { problems });
	return credentials;
}

/** A credential that cannot be read: names the field and the variable or file. */
export class CredentialError extends Error {
	override readonly name = 'CredentialError';
}

/** The value a reference points at, trimmed of a final newline (files usually end with one). */
export function readCredential(ref: SecretRef, field: string, root: string, env: Readonly<Record<string, string | undefined>>): string {
	if ('env' in ref) {
		const value = env[ref.env];
		if (value === undefined || value === '') throw new CredentialError(`${field}: the environment variable ${ref.env} is not set`);
		return value;
	}
	const path = isAbsolute(ref.file) ? ref.file : join(root, ref.file);
	try {
		return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
	} catch (error) {
		throw new CredentialError(`${field}: cannot read ${ref.file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
	}
}

/** A secret task holding a credential's value. */
export function credentialTask(name: string, group: string, value: string): Task<string> {
	return task({ name, group, description: `the ${name.replaceAll('-', ' ')}, from the configuration`, secret: true, inputs: { secret: value }, run: () => value });
}
