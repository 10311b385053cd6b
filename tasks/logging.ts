import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { task, type Task } from 'nub';
import { secretManifest } from '../lib/k8s/secret.ts';
import { timeoutOf } from '../lib/config/nublado.ts';
import { applyTask, type Applied } from './apply.ts';
import { credentialsOf, credentialTask } from './credentials.ts';
import type { Deployment } from './platform.ts';

/** Optional logging: logstashrmq (to RabbitMQ) first, then filebeat on every node shipping to it. */
export function loggingTasks(deployment: Deployment, namespace: Task<Applied>) {
	const { config } = deployment;
	if (!config.logging.enabled) throw new Error('loggingTasks: logging is not enabled');
	const logging = config.logging;
	const ns = config.namespace;
	const password = credentialTask('rabbitmq-password', 'logging', credentialsOf(config).rabbitmqPassword!, deployment);
	const logstashrmq = applyTask({
		name: 'logstashrmq',
		description: `logstash shipping to RabbitMQ: Secret, Service (NodePort, port ${logging.logstashPort}), Deployment`,
		group: 'logging',
		needs: { namespace, password },
		templates: ['logging/logstashrmq.yaml'],
		values: () => ({ NAMESPACE: ns, RABBITMQ_TARGET_HOST: logging.rabbitmqHost, RABBITMQ_TARGET_VHOST: logging.rabbitmqVhost, LOGSTASH_PORT: logging.logstashPort }),
		objects: ({ password }) => [secretManifest({ name: 'logstashrmq', namespace: ns, data: { 'rabbitmq.pan.password': password } })],
		rollouts: [{ kind: 'Deployment', namespace: ns, name: 'logstashrmq' }],
		timeoutMs: timeoutOf(config, 'logstashrmq'),
	});
	const files = [logging.beatsCa, logging.beatsCert, logging.beatsKey];
	const beatsTls = task({
		name: 'filebeat-tls',
		description: 'filebeat\'s CA, certificate and key, from the configured files',
		group: 'logging',
		secret: true,
		inputs: { files },
		pure: true,
		run: (_, { root }) => {
			const [ca, cert, key] = files.map(file => readFileSync(isAbsolute(file) ? file : join(root, file), 'utf8'));
			return { ca: ca!, cert: cert!, key: key! };
		},
	});
	const filebeat = applyTask({
		name: 'filebeat',
		description: 'filebeat on every node: Secret filebeat and the DaemonSet',
		group: 'logging',
		needs: { logstashrmq, beatsTls },
		templates: ['logging/filebeat.yaml'],
		values: () => ({ NAMESPACE: ns, SHIPPER_NAME: logging.shipperName, LOGSTASH_PORT: String(logging.logstashPort) }),
		objects: ({ beatsTls }) => [secretManifest({ name: 'filebeat', namespace: ns, data: { 'ca.crt': beatsTls.ca, 'beats.crt': beatsTls.cert, 'beats.key': beatsTls.key } })],
		rollouts: [{ kind: 'DaemonSet', namespace: ns, name: 'filebeat' }],
		timeoutMs: timeoutOf(config, 'filebeat'),
	});
	return { logstashrmq, filebeat };
}
