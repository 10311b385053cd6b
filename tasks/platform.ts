/**
 * The nublado deployment as one typed graph, built from the checked configuration: every step of
 * the manual, in the order its values flow. Each component's tasks are in their own file; this
 * one wires them and returns the targets.
 *
 *   namespace ─┬─ ingress-controller ── ingress-ip ── dns-record
 *              ├─ tls (ca, tls-certificate, dh-params -> tls-secret)
 *              ├─ fileserver-service ─┬─ fileserver-deployment ─┐
 *              │                      └─ nfs-service-ip ─┬──────┴─ nfs-volumes ── keepalive
 *              │                                         └──────────────── hub
 *              ├─ hub-secret (hub-crypto-key, proxy-token, oauth) ── proxy ──┘
 *              ├─ firefly, prepuller, landing-page, logstashrmq ── filebeat
 */
import { task, type Task } from 'nub';
import { ConfigError, type NubladoConfig } from '../lib/config/nublado.ts';
import { buildGraph } from '../lib/engine/graph.ts';
import { didYouMean } from '../lib/engine/suggest.ts';
import { applyTask, type Applied } from './apply.ts';
import type { Environment } from './credentials.ts';
import { dnsTask } from './dns.ts';
import { fireflyTask } from './firefly.ts';
import { hubTasks } from './hub.ts';
import { ingressTasks } from './ingress.ts';
import { landingTask } from './landing.ts';
import { loggingTasks } from './logging.ts';
import { prepullerTasks } from './prepuller.ts';
import { secretTasks } from './secrets.ts';
import { storageTasks } from './storage.ts';

/** What every component needs to know. */
export interface Deployment {
	config: NubladoConfig;
	/** The Nubfile's folder: configuration files and folders are relative to it. */
	root: string;
	/**
	 * Where `{ env: NAME }` credentials are read from, by the tasks that use them (credentials.ts):
	 * by default the process's environment, as it is when they read it.
	 */
	env?: Environment;
}

export function nubladoTasks(deployment: Deployment) {
	const { config } = deployment;
	const namespace = applyTask({
		name: 'namespace',
		description: `Namespace ${config.namespace}`,
		group: 'namespace',
		templates: ['namespace/namespace.yaml'],
		values: () => ({ NAMESPACE: config.namespace }),
	});
	const secrets = secretTasks({ hostname: config.hostname, namespace: config.namespace, tls: config.tls, dhparam: config.dhparam });
	const tls = applyTask({
		name: 'tls',
		description: 'Secret tls: certificate and chain, key, DH parameters (every Ingress uses it)',
		group: 'tls',
		needs: { namespace, tlsSecret: secrets.tlsSecret },
		objects: ({ tlsSecret }) => [tlsSecret],
	});
	const ingress = ingressTasks(deployment, namespace);
	const dns = dnsTask(deployment, ingress.ingressIp);
	const storage = storageTasks(deployment, namespace);
	const hub = hubTasks(deployment, { namespace, tls, nfsServiceIp: storage.nfsServiceIp, secrets });
	const firefly = config.firefly.enabled ? fireflyTask(deployment, { namespace, tls, nfsVolumes: storage.nfsVolumes, fireflySecret: secrets.fireflySecret }) : undefined;
	const prepuller = config.prepuller.enabled ? prepullerTasks(deployment, namespace) : undefined;
	const landing = config.landing.enabled ? landingTask(deployment, { namespace, tls }) : undefined;
	const logging = config.logging.enabled ? loggingTasks(deployment, namespace) : undefined;

	// One target per component: the component's task itself, or a group when it has several.
	const group = (name: string, description: string, needs: Record<string, Task<unknown>>) => task({ name, description, needs });
	const targets = {
		ingress: group('ingress', 'nginx-ingress and its LoadBalancer address', { controller: ingress.controller, ip: ingress.ingressIp }),
		dns,
		fileserver: group('fileserver', 'the NFS fileserver and the volumes of its exports', storage.fileserver ? { fileserver: storage.fileserver, volumes: storage.nfsVolumes } : { volumes: storage.nfsVolumes }),
		keepalive: storage.keepalive,
		hub: hub.hub,
		proxy: hub.proxy,
		...(firefly ? { firefly } : {}),
		...(prepuller ? { prepuller: prepuller.prepuller } : {}),
		...(landing ? { landing } : {}),
		...(logging ? { logging: group('logging', 'logstashrmq and filebeat', { logstashrmq: logging.logstashrmq, filebeat: logging.filebeat }) } : {}),
	};
	const url = `https://${config.hostname}${config.routes.hub === '/' ? '/' : `${config.routes.hub}/`}`;
	const all = task({
		name: 'all',
		description: 'The whole platform',
		needs: { tls, ...targets },
		inputs: { config: url },
		run: (_, { log }) => {
			log.info(`the platform is at ${url}`);
			return url;
		},
	});
	const rotateHubKey = task({
		name: 'rotate-hub-key',
		description: 'Rotate the hub crypto key (a new key first, the previous kept second) and roll the hub',
		needs: { hub: hub.hub },
		forces: [secrets.hubCryptoKey],
	});
	checkTimeouts(config, [all, rotateHubKey]);
	return { all, tls, ...targets, rotateHubKey, tasks: { namespace, secrets, ingress, dns, storage, hub, firefly, prepuller, landing, logging } };
}

export type { Applied };

/**
 * Refuses a name in nublado.yaml's `timeouts` that is no task of the graph under `roots` (the
 * configuration cannot know the tasks; the graph, built from it, does): every such name, one line
 * each, with the nearest task's name. `default` is every other task.
 */
function checkTimeouts(config: NubladoConfig, roots: ReadonlyArray<Task<unknown>>): void {
	const unknown = Object.keys(config.timeouts).filter(name => name !== 'default');
	if (unknown.length === 0) return;
	const names = buildGraph(roots).byName;
	const problems = unknown
		.filter(name => !names.has(name))
		.map(name => `nublado.yaml: timeouts.${name}: no task of this deployment is named "${name}"${didYouMean(name, names.keys())}; \`nub graph all\` shows every task (a disabled component has none)`);
	if (problems.length > 0) throw new ConfigError(problems);
}
