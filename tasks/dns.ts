import { task, type Task } from 'nub';
import { parseNameserver, type DnsProvider } from '../lib/dns/dns.ts';
import { manualDns, rfc2136 } from '../lib/dns/rfc2136.ts';
import { credentialTask } from './credentials.ts';
import type { Deployment } from './platform.ts';

/** The record `<hostname> A <ingress IP>`, and what the provider did about it. */
export interface DnsRecord {
	name: string;
	address: string;
	provider: string;
	outcome: 'updated' | 'unchanged' | 'printed' | 'skipped';
}

/** Sets the DNS record through the configured provider; with none (the sandbox), says what to set. */
export function dnsTask({ config, credentials }: Deployment, ingressIp: Task<string>): Task<DnsRecord> {
	const dns = config.dns;
	const tsig = dns.provider === 'rfc2136' ? credentialTask('dns-tsig-secret', 'dns', credentials.tsigSecret!) : undefined;
	return task({
		name: 'dns',
		description: `the DNS record ${config.hostname} -> the ingress address (provider ${dns.provider})`,
		group: 'dns',
		needs: (tsig ? { ingressIp, tsig } : { ingressIp }) as { ingressIp: Task<string>; tsig?: Task<string> },
		inputs: { config: { hostname: config.hostname, dns } },
		run: async ({ ingressIp, tsig }, { log, signal }): Promise<DnsRecord> => {
			const record = { name: config.hostname, address: ingressIp, ttl: dns.provider === 'none' ? 60 : dns.ttl };
			let provider: DnsProvider | undefined;
			if (dns.provider === 'rfc2136') {
				provider = rfc2136({ server: parseNameserver(dns.server), zone: dns.zone, key: { name: dns.keyName, algorithm: dns.keyAlgorithm, secret: tsig! } });
			} else if (dns.provider === 'manual') {
				provider = manualDns(dns.server ? { check: parseNameserver(dns.server) } : {});
			}
			if (!provider) {
				log.info(`no DNS provider configured: point ${record.name} at ${record.address} yourself`);
				return { name: record.name, address: record.address, provider: 'none', outcome: 'skipped' };
			}
			const outcome = await provider.ensure(record, { ...(signal ? { signal } : {}), log: line => log.info(line) });
			return { name: record.name, address: record.address, provider: provider.description, outcome };
		},
	});
}
