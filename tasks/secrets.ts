/**
 * The deployment's secrets as tasks: the TLS certificate (self-signed from a CA made here, or the
 * operator's files, checked before anything runs), the DH parameters, the JupyterHub crypto key,
 * the configurable-http-proxy token and the Firefly admin password, and the Kubernetes Secrets
 * built from them.
 *
 * Every one is a secret task: made on the first run, kept encrypted in the state, reused on every
 * later run and on resume, never printed. `--force` on one makes it again and reruns what needs
 * it; for the hub key that is a rotation (new key first, the previous first key kept second).
 *
 * The crypto library (node-forge and worker threads) is imported when a task runs, not when the
 * Nubfile loads: a cached run never pays for it.
 */
import { isAbsolute, join } from 'node:path';
import { task, type Task } from 'nub';
import type { RsaKeyBits } from '../lib/crypto/index.ts';
import { secretManifest, type SecretManifest } from '../lib/k8s/secret.ts';

const crypto = () => import('../lib/crypto/index.ts');
/** Node's own certificate reading, without node-forge: what a check of a certificate needs. */
const certFiles = () => import('../lib/crypto/cert-files.ts');

/** Where the server certificate comes from. */
export type TlsConfig =
	/**
	 * A CA made here signs a certificate for the hostname, `*.hostname` and `altNames`, valid
	 * `days` (397), renewed by the first checked run within `renewDays` (30, at most a third of
	 * `days`) of its end.
	 */
	| { source: 'self-signed'; altNames?: string[]; days?: number; keyBits?: RsaKeyBits; renewDays?: number }
	/** The operator's files, relative to the Nubfile's folder (production: OAuth refuses self-signed). */
	| { source: 'files'; cert: string; key: string; chain?: string };

/** DH parameters: a fresh safe prime of `bits`, or the RFC 7919 group (instant). */
export type DhConfig = { bits: number } | { group: 'ffdhe2048' };

export interface SecretsConfig {
	hostname: string;
	namespace: string;
	tls: TlsConfig;
	dhparam: DhConfig;
}

/** A TLS server certificate with its key and the chain up to (and including) the CA. */
export interface TlsCertificate {
	certPem: string;
	keyPem: string;
	chainPem: string;
}

/** The secret tasks of a deployment. */
export interface SecretTasks {
	/** The self-signed CA; absent when the certificate comes from files. */
	ca?: Task<{ certPem: string; keyPem: string; fingerprint: string }>;
	tlsCertificate: Task<TlsCertificate>;
	dhParams: Task<string>;
	hubCryptoKey: Task<string>;
	proxyToken: Task<string>;
	fireflyPassword: Task<string>;
	/** Secret `tls`: `tls.crt` (certificate and chain), `tls.key`, `root_chain.pem`, `dhparam.pem`. */
	tlsSecret: Task<SecretManifest>;
	/** Secret `firefly`: `admin.password`. */
	fireflySecret: Task<SecretManifest>;
}

export function secretTasks(config: SecretsConfig): SecretTasks {
	const { hostname, namespace } = config;
	let ca: SecretTasks['ca'];
	let tlsCertificate: Task<TlsCertificate>;

	if (config.tls.source === 'self-signed') {
		const tls = config.tls;
		const caConfig = { commonName: `nub CA for ${hostname}`, days: 3650, keyBits: tls.keyBits ?? 2048 };
		ca = task({
			name: 'ca',
			description: 'A self-signed certificate authority for the deployment',
			group: 'tls',
			secret: true,
			inputs: { config: caConfig },
			run: async () => {
				const { certPem, keyPem, fingerprint } = (await crypto()).makeCa(caConfig);
				return { certPem, keyPem, fingerprint };
			},
		});
		const certConfig = { hostname, altNames: tls.altNames ?? [], days: tls.days ?? 397, keyBits: tls.keyBits ?? 2048 };
		tlsCertificate = task({
			name: 'tls-certificate',
			description: `The server certificate for ${hostname} and *.${hostname}, signed by the CA`,
			group: 'tls',
			secret: true,
			needs: { ca },
			inputs: { config: certConfig },
			// What tls-secret reads of it: before the first run, `nub plan --diff` shows each key of Secret tls known after apply.
			shape: { certPem: '', keyPem: '', chainPem: '' },
			run: async ({ ca }) => {
				const { certPem, keyPem, chainPem } = (await crypto()).makeServerCert(ca, certConfig);
				return { certPem, keyPem, chainPem };
			},
			// A certificate near its end is renewed (the same CA signs the new one) as if it had
			// drifted, by any run that checks: the ingress never serves an expired one.
			check: async (_, { previous }) => {
				const certPem = (previous as Partial<TlsCertificate> | undefined)?.certPem;
				return (await certFiles()).renewalReason(certPem, Math.min(tls.renewDays ?? 30, certConfig.days / 3));
			},
		});
	} else {
		const files = config.tls;
		const read = async (root: string) => {
			const { readCertificateFiles, validateCertificateFiles } = await crypto();
			const at = (path: string) => (isAbsolute(path) ? path : join(root, path));
			const contents = await readCertificateFiles({ cert: at(files.cert), key: at(files.key), ...(files.chain ? { chain: at(files.chain) } : {}) });
			validateCertificateFiles({ ...contents, hostname });
			return contents;
		};
		tlsCertificate = task({
			name: 'tls-certificate',
			description: `The server certificate for ${hostname}, from ${files.cert}`,
			group: 'tls',
			secret: true,
			// The private key's file is fingerprinted with an HMAC under the state key, never a plain hash.
			inputs: { files: [files.cert, files.key, ...(files.chain ? [files.chain] : [])], secretFiles: [files.key], config: hostname },
			// Checked before anything of the run starts, cached or not: an expired certificate stops
			// the run rather than being deployed.
			preflight: async ({ root }) => void (await read(root)),
			// The operator's files, read: `nub plan --diff` reads them too.
			pure: true,
			run: async (_, { root }) => {
				const { certPem, keyPem, chainPem } = await read(root);
				return { certPem, keyPem, chainPem: chainPem ?? '' };
			},
		});
	}

	const dhParams = task({
		name: 'dh-params',
		description: 'DH parameters for the TLS servers',
		group: 'tls',
		secret: true,
		inputs: { config: config.dhparam },
		run: async (_, { signal }) => (await crypto()).makeDhParams({ ...config.dhparam, signal }),
	});

	const hubCryptoKey = task({
		name: 'hub-crypto-key',
		description: 'JupyterHub crypto key: two 32-byte keys, hex, joined with ";"; forcing it rotates it',
		group: 'hub',
		secret: true,
		// Made once; after that every run of it is a rotation: a new key first (JupyterHub encrypts
		// with the first) and the previous first key second (it decrypts with any), so what it
		// stored last month stays readable.
		run: async (_, { previous }) => {
			const { isHubCryptoKey, makeHubCryptoKey, rotateHubCryptoKey } = await crypto();
			return isHubCryptoKey(previous) ? rotateHubCryptoKey(previous) : makeHubCryptoKey();
		},
	});

	const proxyToken = task({
		name: 'proxy-token',
		description: 'The configurable-http-proxy auth token: 32 random bytes, hex',
		group: 'hub',
		secret: true,
		run: async () => (await crypto()).makeProxyToken(),
	});

	const fireflyPassword = task({
		name: 'firefly-password',
		description: 'The Firefly admin password, URL-safe',
		group: 'firefly',
		secret: true,
		run: async () => (await crypto()).makePassword(),
	});

	const tlsSecret = task({
		name: 'tls-secret',
		description: 'Secret tls: certificate with its chain, key, root chain and DH parameters',
		group: 'tls',
		secret: 'inputs',
		// Manifests from values: `nub plan --diff` builds them to show what would be applied.
		pure: true,
		needs: { tlsCertificate, dhParams },
		inputs: { config: namespace },
		run: ({ tlsCertificate, dhParams }) =>
			secretManifest({
				name: 'tls',
				namespace,
				type: 'kubernetes.io/tls',
				data: {
					'tls.crt': fullChain(tlsCertificate),
					'tls.key': tlsCertificate.keyPem,
					'root_chain.pem': tlsCertificate.chainPem,
					'dhparam.pem': dhParams,
				},
			}),
	});

	const fireflySecret = task({
		name: 'firefly-secret',
		description: 'Secret firefly: the admin password',
		group: 'firefly',
		secret: 'inputs',
		pure: true,
		needs: { fireflyPassword },
		inputs: { config: namespace },
		run: ({ fireflyPassword }) => secretManifest({ name: 'firefly', namespace, data: { 'admin.password': fireflyPassword } }),
	});

	return { ...(ca ? { ca } : {}), tlsCertificate, dhParams, hubCryptoKey, proxyToken, fireflyPassword, tlsSecret, fireflySecret };
}

/** The certificate followed by its chain, as nginx wants `tls.crt`; the chain's root is left in. */
function fullChain({ certPem, chainPem }: TlsCertificate): string {
	const join = (pem: string) => (pem.endsWith('\n') ? pem : `${pem}\n`);
	return chainPem.trim() === '' ? join(certPem) : join(certPem) + join(chainPem);
}
