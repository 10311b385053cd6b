/**
 * Type tests, checked by `tsc --noEmit` in `npm test` (never run): the configuration's type comes
 * from the schema, so a field's type is declared once. Each `@ts-expect-error` fails the build if
 * the line below it stops being an error.
 */
import type { NubladoConfig } from '../../lib/config/nublado.ts';
import type { FieldValue, SecretRef } from '../../lib/config/schema.ts';

/** True when A and B are the same type (not merely assignable one way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(proof: Equal<A, B>) => proof;

// A schema's type: present when required, defaulted or an object; optional otherwise.
const example = {
	type: 'object',
	fields: {
		name: { type: 'string', required: true },
		size: { type: 'integer', default: 1 },
		note: { type: 'string' },
		mode: { type: 'enum', values: ['a', 'b'], default: 'a' },
		tags: { type: 'list', items: { type: 'string' }, default: [] },
		password: { type: 'secret' },
		inner: { type: 'object', fields: { on: { type: 'boolean', default: false } } },
		limits: { type: 'map', values: { type: 'integer' } },
	},
} as const;
same<FieldValue<typeof example>, { name: string; size: number; note?: string; mode: 'a' | 'b'; tags: string[]; password?: SecretRef; inner: { on: boolean }; limits: Record<string, number> }>(true);
// The configuration's timeouts: a map of durations, always present (an absent one is {}).
same<NubladoConfig['timeouts'], Record<string, string>>(true);

declare const config: NubladoConfig;

// Fields come from the schema, with its enums as unions.
same<NubladoConfig['firefly']['replicas'], number>(true);
same<NubladoConfig['oauth']['provider'], 'github' | 'cilogon' | 'jwt'>(true);
same<NubladoConfig['lab']['sizes']['default'], 'tiny' | 'small' | 'medium' | 'large'>(true);
same<NubladoConfig['lab']['image'], string | undefined>(true);
same<NubladoConfig['oauth']['clientSecret'], SecretRef | undefined>(true);
// What derive() adds.
same<NubladoConfig['clusterName'] | NubladoConfig['oauth']['callbackUrl'] | NubladoConfig['firefly']['jvmSize'], string>(true);
same<NubladoConfig['nfs']['sizeBytes'] | NubladoConfig['hub']['maxHttpHeaderSize'], number>(true);
same<NubladoConfig['prepuller']['images'], string[]>(true);

// @ts-expect-error: a field the schema does not have
export const unknown = config.firefly.replica;
// @ts-expect-error: an enum takes only its values
export const provider: NubladoConfig['oauth']['provider'] = 'okta';

// The unions derive() narrows to: each member has only its own fields.
if (config.tls.source === 'files') {
	const files: { cert: string; key: string; chain?: string } = config.tls;
	void files;
	// @ts-expect-error: altNames are only for a self-signed certificate
	void config.tls.altNames;
} else {
	const names: string[] = config.tls.altNames;
	void names;
}
if (config.dns.provider === 'rfc2136') {
	const rfc2136: { server: string; zone: string; keySecret: SecretRef; keyAlgorithm: 'hmac-sha256' | 'hmac-sha512' | 'hmac-sha1' } = config.dns;
	void rfc2136;
} else if (config.dns.provider === 'none') {
	// @ts-expect-error: provider none has no server
	void config.dns.server;
}
if (config.logging.enabled) {
	const password: SecretRef = config.logging.rabbitmqPassword;
	const shipper: string = config.logging.shipperName;
	void [password, shipper];
} else {
	// @ts-expect-error: logging off has no fields
	void config.logging.rabbitmqHost;
}
if ('group' in config.dhparam) same<typeof config.dhparam.group, 'ffdhe2048'>(true);
else same<typeof config.dhparam.bits, number>(true);
