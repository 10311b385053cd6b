import { isIP } from 'node:net';
import { task, type Task } from 'nub';
import { parseNameserver, type DnsProvider } from '../lib/dns/dns.ts';
import { manualDns, rfc2136 } from '../lib/dns/rfc2136.ts';
import { knownAfterApply, madeFromUnknown } from '../lib/engine/changes.ts';
import { withUndo } from '../lib/engine/undo.ts';
import { credentialsOf, credentialTask, readCredential } from './credentials.ts';
import type { Deployment } from './platform.ts';

/** The record `<hostname> A <ingress IP>`, and what the provider did about it. */
export interface DnsRecord {
	name: string;
	address: string;
	provider: string;
	outcome: 'updated' | 'unchanged' | 'printed' | 'skipped';
}

/** Sets the DNS record through the configured provider; with none (the sandbox), says what to set. */
export function dnsTask(deployment: Deployment, ingressIp: Task<string>): Task<DnsRecord> {
	const { config } = deployment;
	const dns = config.dns;
	const { tsigSecret } = credentialsOf(config);
	const tsig = tsigSecret ? credentialTask('dns-tsig-secret', 'dns', tsigSecret, deployment) : undefined;
	const providerOf = (tsigSecret: string | undefined): DnsProvider | undefined => {
		if (dns.provider === 'rfc2136') return rfc2136({ server: parseNameserver(dns.server), zone: dns.zone, key: { name: dns.keyName, algorithm: dns.keyAlgorithm, secret: tsigSecret! } });
		if (dns.provider === 'manual') return manualDns(dns.server ? { check: parseNameserver(dns.server) } : {});
		return undefined;
	};
	const dnsRecord = task({
		name: 'dns',
		description: `the DNS record ${config.hostname} -> the ingress address (provider ${dns.provider})`,
		group: 'dns',
		cluster: true,
		needs: (tsig ? { ingressIp, tsig } : { ingressIp }) as { ingressIp: Task<string>; tsig?: Task<string> },
		inputs: { config: { hostname: config.hostname, dns } },
		// `nub plan --diff`: the record as the last run left it, and the address a run would set.
		diff: async ({ ingressIp }, { previous }) => {
			const before = (previous as Partial<DnsRecord> | undefined)?.address ?? null;
			const after = madeFromUnknown(ingressIp) ? knownAfterApply : ingressIp;
			const changes = before === after ? [] : [{ path: 'A', before, after }];
			const note = dns.provider === 'none' ? 'no DNS provider: nub says what to set' : undefined;
			return [{ kind: 'DNS record', name: config.hostname, action: before === null ? 'create' : changes.length > 0 ? 'update' : 'none', changes, ...(note ? { note } : {}), live: null, planned: null }];
		},
		run: async ({ ingressIp, tsig }, { log, signal }): Promise<DnsRecord> => {
			const record = { name: config.hostname, address: ingressIp, ttl: dns.provider === 'none' ? 60 : dns.ttl };
			const provider = providerOf(tsig);
			// The address was checked when read from the Service: an IP address or a DNS name. A name
			// (an AWS load balancer) needs a CNAME, which this task does not write.
			const hostnameAddress = isIP(record.address) === 0;
			if (!provider) {
				log.info(`no DNS provider configured: point ${record.name} at ${record.address} yourself${hostnameAddress ? ' (a CNAME record)' : ''}`);
				return { name: record.name, address: record.address, provider: 'none', outcome: 'skipped' };
			}
			if (hostnameAddress) {
				throw new Error(`the ingress address is the DNS name ${record.address}, not an IP address: dns.provider ${dns.provider} sets only A records; make ${record.name} a CNAME to it yourself and set dns.provider: none`);
			}
			const outcome = await provider.ensure(record, { ...(signal ? { signal } : {}), log: line => log.info(line) });
			return { name: record.name, address: record.address, provider: provider.description, outcome };
		},
	});
	// `nub destroy` deletes the record first, as the old deployment's teardown did: nobody is sent to
	// a platform being taken down. With the provider configured now (a record set through another
	// provider, or none, is left to the person who set it).
	return withUndo(dnsRecord, {
		first: true,
		describe: record => ({ steps: [record.provider === 'none' || !record.name ? 'nothing (no DNS provider set the record)' : `delete the DNS record ${record.name} A (${dns.provider})`], objects: 0 }),
		run: async (record, { log, signal }) => {
			if (!record.name || record.provider === 'none') {
				log.info(`no DNS provider set the record: remove ${config.hostname} A yourself if you made it`);
				return;
			}
			// The TSIG key is read now, by the undo that uses it: `nub destroy --dry-run` needs none.
			const provider = providerOf(tsigSecret ? readCredential(tsigSecret, deployment.root, deployment.env ?? process.env) : undefined);
			if (!provider?.remove) {
				log.info(`the DNS provider is now ${dns.provider}: remove ${record.name} A ${record.address ?? ''} where it was set (${record.provider})`.trimEnd());
				return;
			}
			const removal = await provider.remove(record.name, { signal, log: line => log.info(line) });
			if (removal === 'absent') log.info(`${record.name} has no A record`);
		},
	});
}
