import { existsSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute, join, normalize, sep } from 'node:path';
import { CST, isScalar, Lexer, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { check, describe, leaves, type Field, type FieldValue, type Flat, type Problem } from './schema.ts';

/** The configuration file's name, beside the Nubfile. */
export const configFile = 'nublado.yaml';
/** Environment variables override fields: `NUBLADO_FIREFLY_REPLICAS=2` sets firefly.replicas. */
export const envPrefix = 'NUBLADO_';
/** The largest configuration nub reads: a real one is about 10 KB. */
export const maxConfigBytes = 1024 * 1024;
/**
 * The most YAML nodes (keys, values, items) nub reads: a real configuration has a few hundred.
 * Counted by the lexer, which stops at the bound, before the document is composed.
 */
export const maxConfigNodes = 10_000;

const hostname = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$/;
const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const quantity = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$/;
const route = /^\/?[A-Za-z0-9._~\-/]*$/;
const image = /^[a-z0-9][a-z0-9._\-/:@]*$/;
const noComma = /^[^,]+$/;
/** A zone or a TSIG key's name: DNS labels (underscores allowed), an optional final dot. */
const dnsName = /^(?=.{1,254}$)[A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?)*\.?$/;
/** A DNS server: a name or IPv4 address, or an IPv6 one in brackets, then :port if not 53. */
const nameserver = /^([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;
/** A duration as nublado.yaml writes it: `90s`, `10m`, `1h`, or `500ms`. */
const duration = /^(\d+)(ms|s|m|h)$/;
/** A task's name, as the engine accepts it. */
const taskName = /^[a-z0-9][a-z0-9-]*$/;
/** An image the prepuller can take from PREPULLER_IMAGE_LIST (comma-separated, unquoted). */
const prepulled = /^[a-z0-9][a-z0-9._\-/:@]*$/;

/**
 * The schema of nublado.yaml; `doc` strings are what the README's table says. Declared `as const`
 * so that its literal shape is also the configuration's type (NubladoConfig, below).
 */
export const schema = {
	type: 'object',
	fields: {
		hostname: { type: 'string', required: true, pattern: hostname, expected: 'a DNS name such as nublado.example.org', doc: 'where the platform is reached' },
		namespace: { type: 'string', pattern: dnsLabel, expected: 'a DNS label', doc: 'default: the first label of the hostname' },
		kubernetes: {
			type: 'object',
			doc: 'the cluster; omit it to deploy to nub\'s sandbox',
			fields: {
				context: { type: 'string', doc: 'kubeconfig context (required to deploy to a real cluster)' },
				kubeconfig: { type: 'string', doc: 'kubeconfig file; default KUBECONFIG or ~/.kube/config' },
				state: { type: 'enum', values: ['file', 'kubernetes'], default: 'file', doc: 'file (.nub/ here) or kubernetes (shared by the team, in the cluster, under a Lease; needs NUB_STATE_KEY)' },
			},
		},
		oauth: {
			type: 'object',
			fields: {
				provider: { type: 'enum', values: ['github', 'cilogon', 'jwt'], default: 'github', doc: 'github, cilogon or jwt' },
				clientId: { type: 'string', doc: 'OAuth client id (not for jwt)' },
				clientSecret: { type: 'secret', doc: 'OAuth client secret, { env: NAME } or { file: path } (not for jwt)' },
				allowedGroups: { type: 'list', items: { type: 'string', pattern: noComma, expected: 'a name without a comma' }, default: [], doc: 'GitHub organizations or CILogon groups allowed in' },
				deniedGroups: { type: 'list', items: { type: 'string', pattern: noComma, expected: 'a name without a comma' }, default: [], doc: 'organizations or groups kept out' },
				jwtCertificate: { type: 'string', doc: 'jwt: the identity provider\'s token-signing certificate (a PEM file), which the hub checks tokens with' },
				cilogonIdp: { type: 'string', doc: 'cilogon: restrict the login to this identity provider (its entity ID)' },
				cilogonHost: { type: 'string', pattern: hostname, expected: 'a DNS name', default: 'cilogon.org', doc: 'cilogon: the CILogon server' },
			},
		},
		tls: {
			type: 'object',
			fields: {
				source: { type: 'enum', values: ['self-signed', 'files'], default: 'self-signed', doc: 'self-signed (a CA made here) or files (GitHub OAuth needs a real certificate)' },
				cert: { type: 'string', doc: 'certificate file (files)' },
				key: { type: 'string', doc: 'private key file (files)' },
				chain: { type: 'string', doc: 'chain file (files)' },
				altNames: { type: 'list', items: { type: 'string', pattern: hostname, expected: 'a DNS name' }, default: [], doc: 'more names for a self-signed certificate' },
			},
		},
		dhparam: {
			type: 'object',
			fields: {
				bits: { type: 'integer', min: 1024, max: 8192, default: 2048, doc: 'size of fresh DH parameters' },
				group: { type: 'enum', values: ['ffdhe2048'], doc: 'use the RFC 7919 group instead (instant)' },
			},
		},
		routes: {
			type: 'object',
			fields: {
				hub: { type: 'string', pattern: route, expected: 'a URL path', default: '/nb', doc: 'the hub\'s path' },
				firefly: { type: 'string', pattern: route, expected: 'a URL path', default: '/firefly', doc: 'Firefly\'s path' },
			},
		},
		hub: {
			type: 'object',
			fields: {
				image: { type: 'string', pattern: image, expected: 'a container image', default: 'lsstsqre/sciplat-hub:latest' },
				debug: { type: 'boolean', default: false, doc: 'DEBUG: the hub and the labs log at debug level' },
				sessionDbUrl: { type: 'string', default: 'sqlite:////home/jovyan/jupyterhub.sqlite' },
				maxHttpHeaderSize: { type: 'integer', min: 1024, max: 1048576, doc: 'the proxy\'s header limit; default 8192, 16384 with jwt' },
				configFolder: { type: 'string', default: 'hub/config', doc: 'the hub\'s configuration: jupyterhub_config.py and the NN-*.py files it loads in lexical order (dotfiles left out): inside the project, or an absolute path' },
			},
		},
		lab: {
			type: 'object',
			doc: 'the JupyterLab pods the hub spawns',
			fields: {
				image: { type: 'string', pattern: image, expected: 'a container image', doc: 'one image for every lab; default: none, the hub offers what it finds in the repository below' },
				repoHost: { type: 'string', pattern: hostname, expected: 'a DNS name', default: 'hub.docker.com', doc: 'LAB_REPO_HOST: the registry the hub scans for lab images' },
				repoOwner: { type: 'string', pattern: dnsLabel, expected: 'a repository owner', default: 'lsstsqre', doc: 'LAB_REPO_OWNER' },
				repoName: { type: 'string', pattern: /^[a-z0-9][a-z0-9._-]*$/, expected: 'a repository name', default: 'sciplat-lab', doc: 'LAB_REPO_NAME' },
				selectorTitle: { type: 'string', default: 'LSST Stack Selector', doc: 'the title of the spawn form' },
				idleTimeout: { type: 'integer', min: 0, default: 43200, doc: 'seconds before an idle lab is stopped; 0 never' },
				sizes: {
					type: 'object',
					doc: 'the sizes offered: tiny, small, medium, large, each twice the one before',
					fields: {
						tinyCpu: { type: 'number', min: 0.1, default: 0.5, doc: 'CPUs of the tiny size' },
						mbPerCpu: { type: 'integer', min: 256, max: 65536, default: 2048, doc: 'memory per CPU, in MB' },
						default: { type: 'enum', values: ['tiny', 'small', 'medium', 'large'], default: 'small', doc: 'the size chosen unless the user picks another' },
						range: { type: 'number', min: 1, default: 4, doc: 'a size\'s guarantee is its limit divided by this (tiny: the guarantees below)' },
					},
				},
				limits: {
					type: 'object',
					doc: 'of a lab spawned without a size',
					fields: {
						memory: { type: 'string', pattern: quantity, expected: 'a size such as 3G', default: '3G' },
						cpu: { type: 'number', min: 0.1, default: 2.0 },
					},
				},
				guarantees: {
					type: 'object',
					fields: {
						memory: { type: 'string', pattern: quantity, expected: 'a size such as 512M', default: '512M' },
						cpu: { type: 'number', min: 0.01, default: 0.5 },
					},
				},
				allowDask: { type: 'boolean', default: true, doc: 'labs may start dask worker pods (ServiceAccount dask)' },
				maxDaskWorkers: { type: 'integer', min: 0, max: 1000, default: 25, doc: 'the most dask workers a user may run (it sets the namespace quota)' },
			},
		},
		nfs: {
			type: 'object',
			fields: {
				server: { type: 'string', default: 'in-cluster', doc: 'in-cluster (a fileserver in the cluster) or an NFS server\'s IP address' },
				size: { type: 'string', pattern: quantity, expected: 'a size such as 20Gi', default: '20Gi', doc: 'the shared volume (at least 1Gi)' },
			},
		},
		firefly: {
			type: 'object',
			fields: {
				enabled: { type: 'boolean', default: true },
				replicas: { type: 'integer', min: 1, max: 100, default: 1 },
				memory: { type: 'string', pattern: quantity, expected: 'a size such as 4G', default: '4G', doc: 'memory limit (at least the 3G it requests); the JVM gets 7/8 of it' },
				cpu: { type: 'number', min: 0.8, default: 3.0, doc: 'CPU limit (at least the 0.8 it requests)' },
				uid: { type: 'integer', min: 0, default: 91, doc: 'the user it runs as: the image\'s tomcat user is 91' },
			},
		},
		prepuller: {
			type: 'object',
			fields: {
				enabled: { type: 'boolean', default: true },
				minute: { type: 'integer', min: 0, max: 59, doc: 'minute of the hour it runs; default: chosen once, 15 minutes after the first deployment, and kept' },
				images: { type: 'list', items: { type: 'string', pattern: prepulled, expected: 'a container image with no space or comma' }, doc: 'PREPULLER_IMAGE_LIST: at most one (the image uses one); default: lab.image if set, else none' },
				noScan: { type: 'boolean', doc: 'PREPULLER_NO_SCAN: pull only images, scan nothing; default: true when lab.image is set' },
				owner: { type: 'string', pattern: dnsLabel, expected: 'a repository owner', doc: 'PREPULLER_OWNER: the Docker Hub owner scanned; default: lab.repoOwner' },
				name: { type: 'string', pattern: /^[a-z0-9][a-z0-9._-]*$/, expected: 'a repository name', doc: 'PREPULLER_IMAGE_NAME: the repository scanned; default: lab.repoName' },
				experimentals: { type: 'integer', min: 0, max: 100, default: 0, doc: 'PREPULLER_EXPERIMENTALS: how many exp_ tags' },
				dailies: { type: 'integer', min: 0, max: 100, default: 3, doc: 'PREPULLER_DAILIES: how many dYYYYMMDD tags' },
				weeklies: { type: 'integer', min: 0, max: 100, default: 2, doc: 'PREPULLER_WEEKLIES: how many wYYYYWW tags' },
				releases: { type: 'integer', min: 0, max: 100, default: 1, doc: 'PREPULLER_RELEASES: how many rNN tags' },
				sortField: { type: 'enum', values: ['name', 'updated'], default: 'name', doc: 'PREPULLER_SORT_FIELD: how scanned tags are ordered, by name or newest push first' },
				command: { type: 'string', pattern: /^[^\s'"\\]+$/, expected: 'one word: the image passes it on unquoted', doc: 'PREPULLER_COMMAND: what each pulled image runs; default: the prepuller\'s own echo' },
				debug: { type: 'boolean', default: false, doc: 'DEBUG: the prepuller logs at debug level' },
			},
		},
		logging: {
			type: 'object',
			fields: {
				enabled: { type: 'boolean', default: false },
				rabbitmqHost: { type: 'string', pattern: /^[A-Za-z0-9.-]+(:\d{1,5})?$/, expected: 'a host name, with :port if not 5672', doc: 'RABBITMQ_TARGET_HOST' },
				rabbitmqVhost: { type: 'string', pattern: /^[A-Za-z0-9._~%-]+$/, expected: 'a vhost as an amqp URI writes it (no /: the vhost / is %2f)', doc: 'RABBITMQ_TARGET_VHOST' },
				rabbitmqPassword: { type: 'secret', doc: 'RABBITMQ_PAN_PASSWORD, { env: NAME } or { file: path }' },
				logstashPort: { type: 'integer', min: 1, max: 65535, default: 5044, doc: 'the port of Service logstashrmq, LOGSTASH_PORT of filebeat (logstash listens on 5044)' },
				shipperName: { type: 'string', pattern: /^[A-Za-z0-9._-]+$/, expected: 'letters, digits, ., _ and -', doc: 'SHIPPER_NAME; default: the cluster name (hostname with dashes)' },
				beatsCa: { type: 'string', doc: 'filebeat CA certificate file' },
				beatsCert: { type: 'string', doc: 'filebeat certificate file' },
				beatsKey: { type: 'string', doc: 'filebeat key file' },
			},
		},
		landing: {
			type: 'object',
			fields: {
				enabled: { type: 'boolean', default: true, doc: 'only when routes.hub is not /' },
				folder: { type: 'string', default: 'landing', doc: 'the page\'s files (PNGs go in byte for byte; dotfiles left out): inside the project, or an absolute path' },
			},
		},
		timeouts: {
			type: 'map',
			keys: taskName,
			expectedKey: 'a task name (nub graph all shows them) or default',
			values: { type: 'string', pattern: duration, expected: 'a duration such as 90s, 10m or 1h' },
			doc: 'how long each task waits for its rollouts and claims, by task name (default: every other task), such as { default: 10m, hub: 15m }; unset, 10m',
		},
		dns: {
			type: 'object',
			fields: {
				provider: { type: 'enum', values: ['none', 'rfc2136', 'manual'], default: 'none', doc: 'none, rfc2136 (nsupdate with TSIG) or manual' },
				server: { type: 'string', pattern: nameserver, expected: 'host or host:port ([IPv6]:port)', doc: 'DNS server host[:port] (rfc2136; manual checks against it)' },
				zone: { type: 'string', pattern: dnsName, expected: 'a DNS name', doc: 'the zone to update (rfc2136)' },
				keyName: { type: 'string', pattern: dnsName, expected: 'a DNS name (the key\'s name in BIND)', default: 'nub' },
				keyAlgorithm: { type: 'enum', values: ['hmac-sha256', 'hmac-sha512', 'hmac-sha1'], default: 'hmac-sha256' },
				keySecret: { type: 'secret', doc: 'the TSIG secret (base64), { env: NAME } or { file: path }' },
				ttl: { type: 'integer', min: 5, max: 86400, default: 60 },
			},
		},
	},
} as const satisfies Field;

/** Every field of nublado.yaml as `check` returns it, before `derive`: the schema's own type. */
type Checked = FieldValue<typeof schema>;

/**
 * The checked configuration, with defaults and derived values: the schema's type (Checked) with
 * what `derive` adds or narrows on top. Only what the schema cannot say is declared here: values
 * computed from other fields, defaults that depend on another field, and the rules across fields
 * that make tls, dhparam, logging and dns unions told apart by their switch, each member with only
 * its own fields (derive drops the others). Every type below is taken from Checked, so a field's
 * type is still written once, in the schema.
 */
export interface NubladoConfig extends Omit<Checked, 'namespace' | 'kubernetes' | 'oauth' | 'tls' | 'dhparam' | 'hub' | 'nfs' | 'firefly' | 'prepuller' | 'logging' | 'dns'> {
	/** Default: the hostname's first label. */
	namespace: string;
	/** The hostname with dashes: the default shipper name and the sandbox cluster name. */
	clusterName: string;
	/** None for the sandbox (a section that only repeats the default state is dropped); given, it names a context. */
	kubernetes?: Filled<Checked['kubernetes'], 'context'>;
	oauth: Flat<Checked['oauth'] & { callbackUrl: string }>;
	tls: Flat<{ source: Is<Tls['source'], 'self-signed'> } & Pick<Tls, 'altNames'>> | Flat<{ source: Is<Tls['source'], 'files'> } & Filled<Pick<Tls, 'cert' | 'key' | 'chain'>, 'cert' | 'key'>>;
	/** Fresh parameters of `bits`, or the named group: never both. */
	dhparam: Pick<Checked['dhparam'], 'bits'> | Filled<Pick<Checked['dhparam'], 'group'>>;
	/** maxHttpHeaderSize defaults by the OAuth provider. */
	hub: Filled<Checked['hub'], 'maxHttpHeaderSize'>;
	nfs: Flat<Checked['nfs'] & { sizeBytes: number }>;
	/** jvmSize: the JVM's heap, 7/8 of the memory limit. */
	firefly: Flat<Checked['firefly'] & { jvmSize: string }>;
	/** images, noScan, owner and name default from lab. */
	prepuller: Filled<Checked['prepuller'], 'images' | 'noScan' | 'owner' | 'name'>;
	/** Every field is required when logging is on (shipperName defaults to clusterName); off, there are none. */
	logging: { enabled: Is<Logging['enabled'], false> } | Flat<{ enabled: Is<Logging['enabled'], true> } & Filled<Omit<Logging, 'enabled'>>>;
	dns:
		| { provider: Is<Dns['provider'], 'none'> }
		| Flat<{ provider: Is<Dns['provider'], 'manual'> } & Pick<Dns, 'server' | 'ttl'>>
		| Flat<{ provider: Is<Dns['provider'], 'rfc2136'> } & Filled<Omit<Dns, 'provider'>, 'server' | 'zone' | 'keySecret'>>;
}

type Tls = Checked['tls'];
type Logging = Checked['logging'];
type Dns = Checked['dns'];

/** `T` with the fields `K` (default: all) always given: derive fills them in or requires them. */
type Filled<T, K extends keyof T = keyof T> = Flat<Omit<T, K> & { [P in K]-?: Exclude<T[P], undefined> }>;

/** `V`, which must be one of the schema's values `Values`: a union member's switch. */
type Is<Values, V extends Values> = V;

/** Bad configuration: every problem, one line each, naming the file (or variable) and field. */
export class ConfigError extends Error {
	override readonly name = 'ConfigError';
	constructor(readonly problems: readonly string[]) {
		super(problems.join('\n'));
	}
}

/**
 * The configuration the sandbox runs when a project has no nublado.yaml: a newcomer's
 * `npx nub run all` deploys the whole platform to it, with nothing to provide.
 */
export const sandboxExample = `# nub's example configuration for its embedded sandbox cluster (used when there is no nublado.yaml)
hostname: nublado.sandbox.test
oauth:
  provider: jwt
  # An example identity provider's certificate (nobody holds its key): no token passes it.
  jwtCertificate: hub/example-signing-certificate.crt
tls:
  source: self-signed
`;

/**
 * Reads `nublado.yaml` in `root` (or the sandbox example when there is none), applies the
 * environment's overrides, checks it all and derives what follows from it. Throws a ConfigError
 * listing every problem.
 */
export function loadConfig(root: string, env: Readonly<Record<string, string | undefined>>): { config: NubladoConfig; file: string | undefined } {
	const path = join(root, configFile);
	const file = existsSync(path) ? configFile : undefined;
	// Before reading it: a file of gigabytes is refused as quickly as one of two megabytes.
	if (file) checkSize(statSync(path).size, file);
	const text = file ? readFileSync(path, 'utf8') : sandboxExample;
	return { config: parseConfig(text, file ?? '(the sandbox example)', env), file };
}

/** `loadConfig` on text: `shown` names it in messages. */
export function parseConfig(text: string, shown: string, env: Readonly<Record<string, string | undefined>> = {}): NubladoConfig {
	const document = readYaml(text, shown);
	const raw = (document.toJS() ?? {}) as unknown;
	const problems: Problem[] = [];
	const fromEnv = new Map<string, string>();
	const merged = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? applyEnvironment(raw as Record<string, unknown>, env, fromEnv, problems) : raw;
	const checked = check(schema, merged, '', problems) as Record<string, any> | undefined;
	if (checked && problems.length === 0) derive(checked, problems);
	if (problems.length > 0) {
		throw new ConfigError(problems.map(problem => `${fromEnv.get(problem.path) ?? shown}: ${problem.path === '' ? '' : `${problem.path}: `}${problem.message}`));
	}
	return checked as unknown as NubladoConfig;
}

/**
 * The YAML document of `text`, or a ConfigError: too large (`maxConfigBytes`, `maxConfigNodes`),
 * not valid YAML, or a mapping with a key twice.
 *
 * The size is bounded before parsing, so a parse takes well under a second whatever the file (a
 * synchronous parse holds off Ctrl-C until it returns). The yaml package's own duplicate-key check
 * compares each key with every key before it in its mapping, quadratic (40,000 keys: 54 s), so
 * it is off, and keys are checked here with a set, in linear time.
 */
function readYaml(text: string, shown: string): Document.Parsed {
	checkSize(Buffer.byteLength(text), shown);
	const nodes = countNodes(text);
	if (nodes > maxConfigNodes) throw new ConfigError([`${shown}: more than ${maxConfigNodes.toLocaleString('en')} YAML nodes (keys, values, items), the most nub reads in a configuration (a real one has a few hundred): is this the right file?`]);
	const lines = new LineCounter();
	const document = parseDocument(text, { uniqueKeys: false, lineCounter: lines });
	const invalid = (line: number | string, message: string) => `${shown}:${line}: not valid YAML: ${message}`;
	if (document.errors.length > 0) {
		throw new ConfigError(document.errors.map(error => invalid(error.linePos?.[0]?.line ?? '?', error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''))));
	}
	const duplicates: Array<{ offset: number; message: string }> = [];
	visit(document, {
		Map(_, map) {
			const seen = new Set<unknown>();
			for (const { key } of map.items) {
				// As the yaml package compares keys: scalars by value; a collection as a key is never equal to another.
				if (!isScalar(key)) continue;
				if (seen.has(key.value)) {
					const offset = key.range?.[0] ?? 0;
					duplicates.push({ offset, message: invalid(lines.linePos(offset).line, `Map keys must be unique (${JSON.stringify(String(key.value)).slice(0, 80)} again)`) });
				}
				seen.add(key.value);
			}
		},
	});
	// In the file's order (a mapping's keys are visited before those of the mappings in it).
	if (duplicates.length > 0) throw new ConfigError(duplicates.sort((a, b) => a.offset - b.offset).map(duplicate => duplicate.message));
	return document;
}

/** Refuses a configuration of more than `maxConfigBytes`. */
function checkSize(bytes: number, shown: string): void {
	if (bytes > maxConfigBytes) throw new ConfigError([`${shown}: ${(bytes / 1024 / 1024).toFixed(1)} MiB, more than the ${maxConfigBytes / 1024 / 1024} MiB nub reads in a configuration (a real one is about 10 KB): is this the right file?`]);
}

/**
 * How many nodes `text` holds, as its tokens say (scalars, aliases, flow collections), counting up
 * to one more than `maxConfigNodes`: the lexer is linear, and stops there.
 */
function countNodes(text: string): number {
	let count = 0;
	for (const token of new Lexer().lex(text)) {
		switch (CST.tokenType(token)) {
			case 'scalar':
			case 'single-quoted-scalar':
			case 'double-quoted-scalar':
			case 'block-scalar-header':
			case 'alias':
			case 'flow-map-start':
			case 'flow-seq-start':
				if (++count > maxConfigNodes) return count;
		}
	}
	return count;
}

/** `firefly.replicas` -> `NUBLADO_FIREFLY_REPLICAS`. */
export function envName(path: string): string {
	return envPrefix + path.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replaceAll('.', '_').toUpperCase();
}

function applyEnvironment(raw: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>, fromEnv: Map<string, string>, problems: Problem[]) {
	const merged = structuredClone(raw);
	for (const [path, field] of leaves(schema)) {
		const name = envName(path);
		const text = env[name];
		if (field.type === 'map') {
			mapFromEnvironment(merged, path, env, fromEnv);
			continue;
		}
		if (text === undefined || field.type === 'secret' || field.type === 'object') continue;
		fromEnv.set(path, name);
		let value: unknown = text;
		if (field.type === 'integer' || field.type === 'number') value = text.trim() === '' || Number.isNaN(Number(text)) ? text : Number(text);
		else if (field.type === 'boolean') value = text === 'true' ? true : text === 'false' ? false : text;
		else if (field.type === 'list') value = text.split(',').map(item => item.trim()).filter(Boolean);
		const keys = path.split('.');
		let at: Record<string, unknown> = merged;
		for (const key of keys.slice(0, -1)) {
			if (typeof at[key] !== 'object' || at[key] === null) at[key] = {};
			at = at[key] as Record<string, unknown>;
		}
		at[keys.at(-1)!] = value;
	}
	void problems;
	return merged;
}

/**
 * A map's entries from the environment: `NUBLADO_TIMEOUTS_NFS_VOLUMES=90s` sets
 * timeouts.nfs-volumes (the key in lower case, `_` as `-`, as task names are written), over the
 * file's entry of that key.
 */
function mapFromEnvironment(merged: Record<string, unknown>, path: string, env: Readonly<Record<string, string | undefined>>, fromEnv: Map<string, string>) {
	const prefix = `${envName(path)}_`;
	for (const [name, text] of Object.entries(env)) {
		if (!name.startsWith(prefix) || name === prefix || text === undefined) continue;
		const key = name.slice(prefix.length).toLowerCase().replaceAll('_', '-');
		const keys = path.split('.');
		let at: Record<string, unknown> = merged;
		for (const part of keys) {
			if (typeof at[part] !== 'object' || at[part] === null || Array.isArray(at[part])) at[part] = {};
			at = at[part] as Record<string, unknown>;
		}
		at[key] = text;
		fromEnv.set(`${path}.${key}`, name);
	}
}

/** Defaults that depend on other fields, and rules across fields. */
function derive(config: Record<string, any>, problems: Problem[]) {
	const problem = (path: string, message: string) => problems.push({ path, message });
	config.namespace ??= config.hostname.split('.')[0];
	if (!dnsLabel.test(config.namespace)) problem('namespace', `the default, the hostname's first label "${config.namespace}", is not a DNS label: give one`);
	config.clusterName = config.hostname.replaceAll('.', '-');
	if (config.kubernetes && Object.keys(config.kubernetes).every(key => key === 'state') && config.kubernetes.state === 'file') delete config.kubernetes;
	if (config.kubernetes && !config.kubernetes.context) problem('kubernetes.context', 'is required to deploy to a cluster (omit kubernetes to use the sandbox)');

	config.routes.hub = normalizeRoute(config.routes.hub);
	config.routes.firefly = normalizeRoute(config.routes.firefly);

	const oauth = config.oauth;
	if (oauth.provider !== 'jwt') {
		if (!oauth.clientId) problem('oauth.clientId', `is required for ${oauth.provider}`);
		if (!oauth.clientSecret) problem('oauth.clientSecret', `is required for ${oauth.provider}: { env: NAME } or { file: path }`);
		if (oauth.allowedGroups.length === 0) problem('oauth.allowedGroups', `is required for ${oauth.provider}: the organizations or groups allowed in`);
	}
	oauth.callbackUrl = `https://${config.hostname}${config.routes.hub === '/' ? '' : config.routes.hub}/hub/oauth_callback`;
	if (oauth.provider === 'jwt' && !oauth.jwtCertificate) problem('oauth.jwtCertificate', 'is required for jwt: the identity provider\'s token-signing certificate (a PEM file)');
	if (oauth.provider !== 'jwt' && oauth.jwtCertificate !== undefined) problem('oauth.jwtCertificate', 'is only for provider: jwt');
	if (oauth.provider !== 'cilogon' && oauth.cilogonIdp !== undefined) problem('oauth.cilogonIdp', 'is only for provider: cilogon');

	const header = config.hub.maxHttpHeaderSize;
	if (header === undefined) config.hub.maxHttpHeaderSize = oauth.provider === 'jwt' ? 16384 : 8192;
	else if (oauth.provider === 'jwt' && header < 16384) problem('hub.maxHttpHeaderSize', `must be at least 16384 with jwt (large tokens), got ${header}`);

	const tls = config.tls;
	if (tls.source === 'files') {
		for (const key of ['cert', 'key'] as const) if (!tls[key]) problem(`tls.${key}`, 'is required with source: files');
		delete tls.altNames;
	} else {
		for (const key of ['cert', 'key', 'chain'] as const) if (tls[key] !== undefined) problem(`tls.${key}`, 'is only for source: files');
	}
	if (config.dhparam.group !== undefined) config.dhparam = { group: config.dhparam.group };
	else config.dhparam = { bits: config.dhparam.bits };

	if (config.nfs.server !== 'in-cluster' && isIP(config.nfs.server) === 0) {
		problem('nfs.server', `expected in-cluster or an IP address (volumes need the server's IP, not a name), got ${describe(config.nfs.server)}`);
	}
	config.nfs.sizeBytes = bytes(config.nfs.size);
	if (config.nfs.sizeBytes < 2 ** 30) problem('nfs.size', `must be at least 1Gi, got ${config.nfs.size}`);

	// The JVM gets 7/8 of the limit, counted in binary units as the old tool did (4G -> 3584M):
	// below the limit either way, with room for what the JVM uses outside its heap.
	config.firefly.jvmSize = `${Math.floor((bytes(config.firefly.memory.replace(/([KMGT])$/, '$1i')) * 7) / 8 / 2 ** 20)}M`;
	// Firefly requests 3G (its Deployment in the repository): a smaller limit is refused.
	if (bytes(config.firefly.memory) < 3e9) problem('firefly.memory', `must be at least 3G, the memory Firefly requests, got ${config.firefly.memory}`);

	// The prepuller pulls what the hub offers: lab.image alone, or the repository it scans. Its
	// image (jupyterhubutils 0.8.1) adds one image of PREPULLER_IMAGE_LIST (the last its set gives)
	// and scans only Docker Hub's API.
	const prepuller = config.prepuller;
	prepuller.images ??= config.lab.image ? [config.lab.image] : [];
	prepuller.noScan ??= config.lab.image !== undefined;
	prepuller.owner ??= config.lab.repoOwner;
	prepuller.name ??= config.lab.repoName;
	if (prepuller.enabled) {
		if (prepuller.images.length > 1) problem('prepuller.images', `the prepuller's image pulls only one image of its list; give at most one, got ${prepuller.images.length}`);
		if (prepuller.noScan && prepuller.images.length === 0) problem('prepuller.images', 'is required with noScan: true (there is nothing else to pull)');
		if (!prepuller.noScan && config.lab.repoHost !== 'hub.docker.com') problem('prepuller.noScan', `the prepuller scans only Docker Hub, not ${config.lab.repoHost}: set noScan: true and images`);
	}

	const logging = config.logging;
	if (logging.enabled) {
		for (const key of ['rabbitmqHost', 'rabbitmqVhost', 'rabbitmqPassword', 'beatsCa', 'beatsCert', 'beatsKey']) {
			if (logging[key] === undefined) problem(`logging.${key}`, 'is required when logging is enabled');
		}
		logging.shipperName ??= config.clusterName;
	} else {
		config.logging = { enabled: false };
	}

	config.landing.enabled = config.landing.enabled && config.routes.hub !== '/';
	// A folder's files all go into the cluster: a relative path must stay inside the project (a
	// `../` would ship whatever lies beside it). An absolute path is the operator's explicit choice.
	for (const [path, folder] of [['landing.folder', config.landing.folder], ['hub.configFolder', config.hub.configFolder]] as const) {
		if (!isAbsolute(folder) && leavesProject(folder)) problem(path, `"${folder}" leaves the project folder: give a folder inside it, or an absolute path to use one elsewhere`);
	}

	for (const [name, text] of Object.entries(config.timeouts as Record<string, string>)) {
		if (durationMs(text) === 0) problem(`timeouts.${name}`, `expected a duration of more than 0, such as 90s or 10m, got ${describe(text)}`);
	}

	const dns = config.dns;
	if (dns.provider === 'rfc2136') {
		for (const key of ['server', 'zone', 'keySecret']) if (dns[key] === undefined) problem(`dns.${key}`, 'is required with provider: rfc2136');
	} else if (dns.provider === 'none') {
		config.dns = { provider: 'none' };
	} else {
		config.dns = { provider: 'manual', ttl: dns.ttl, ...(dns.server ? { server: dns.server } : {}) };
	}
}

/** Whether a relative path reaches outside the folder it is relative to (`..`, `a/../..`). */
function leavesProject(path: string): boolean {
	const normal = normalize(path);
	return normal === '..' || normal.startsWith(`..${sep}`);
}

/** Routes get a leading `/` and no trailing `/` (except `/` itself). */
export function normalizeRoute(path: string): string {
	const trimmed = path.replace(/^\/+|\/+$/g, '');
	return trimmed === '' ? '/' : `/${trimmed}`;
}

/** `90s` -> 90000: a duration of nublado.yaml (one the schema accepted) in milliseconds. */
export function durationMs(text: string): number {
	const match = duration.exec(text);
	if (!match) return NaN;
	return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
}

/**
 * How long task `name` waits for what it applied (rollouts, claims): its own entry of
 * `timeouts`, else `timeouts.default`, else undefined (the client's own 10 minutes).
 */
export function timeoutOf(config: Pick<NubladoConfig, 'timeouts'>, name: string): number | undefined {
	const text = config.timeouts[name] ?? config.timeouts.default;
	return text === undefined ? undefined : durationMs(text);
}

/** `20Gi` -> bytes (binary and decimal suffixes as Kubernetes reads them). */
export function bytes(size: string): number {
	const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|K|M|G|T)?$/.exec(size);
	if (!match) return NaN;
	const factor = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, K: 1e3, M: 1e6, G: 1e9, T: 1e12 }[match[2] ?? ''] ?? 1;
	return Math.round(Number(match[1]) * factor);
}
