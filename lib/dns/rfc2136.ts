import { isIP } from 'node:net';
import { lookupA, type ARecord, type DnsOutcome, type DnsProvider, type DnsRemoval, type Nameserver } from './dns.ts';
import { isDnsName } from './names.ts';
import { printable } from '../engine/printable.ts';

/** A TSIG key as BIND writes it (`key "name" { algorithm hmac-sha256; secret "..."; }`). */
export interface TsigKey {
	name: string;
	algorithm: string;
	/** base64. */
	secret: string;
}

export interface Rfc2136Options {
	server: Nameserver;
	zone: string;
	key: TsigKey;
}

/**
 * Dynamic DNS updates (RFC 2136) signed with TSIG, sent by BIND's `nsupdate`. The key goes to
 * nsupdate on its standard input, never on its command line (where `ps` would show it).
 */
export function rfc2136(options: Rfc2136Options): DnsProvider {
	const { server, zone, key } = options;
	// Every value below goes into nsupdate's script, one command a line: each is checked to be
	// what it claims (a name, an address, base64) before any script is written, so none can end
	// a line and add a command of its own.
	refuseUnless(isIP(server.host) !== 0 || isDnsName(server.host), 'the DNS server', server.host, 'an IP address or a DNS name');
	refuseUnless(Number.isInteger(server.port) && server.port >= 1 && server.port <= 65535, 'the DNS server port', String(server.port), 'a port number');
	refuseUnless(isDnsName(zone), 'the zone', zone, 'a DNS name');
	refuseUnless(isDnsName(key.name), 'the TSIG key name', key.name, 'a DNS name');
	refuseUnless(/^hmac-[a-z0-9-]+$/.test(key.algorithm), 'the TSIG algorithm', key.algorithm, 'an algorithm such as hmac-sha256');
	// The secret is never shown, even escaped.
	if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key.secret)) throw new Error('the TSIG secret is not base64 (letters, digits, +, / and = padding): refused');
	const checkRecord = (name: string, address?: string, ttl?: number) => {
		refuseUnless(isDnsName(name), 'the record name', name, 'a DNS name');
		if (address !== undefined) refuseUnless(isIP(address) === 4, `the address of ${name}`, address, 'an IPv4 address (an A record)');
		if (ttl !== undefined) refuseUnless(Number.isInteger(ttl) && ttl >= 0 && ttl <= 2 ** 31 - 1, `the TTL of ${name}`, String(ttl), 'a whole number of seconds');
	};
	return {
		description: `rfc2136 at ${server.host}:${server.port} (zone ${zone})`,
		async ensure(record: ARecord, { signal, log }): Promise<DnsOutcome> {
			checkRecord(record.name, record.address, record.ttl);
			const current = await lookupA(record.name, server);
			if (current.length === 1 && current[0] === record.address) {
				log(`${record.name} A ${record.address} already`);
				return 'unchanged';
			}
			const name = record.name.endsWith('.') ? record.name : `${record.name}.`;
			const failure = await nsupdate([`update delete ${name} A`, `update add ${name} ${record.ttl} A ${record.address}`], signal);
			if (failure !== undefined) throw new Error(`nsupdate could not set ${record.name} A ${record.address} at ${server.host}:${server.port} (zone ${zone}): ${failure}`);
			const after = await lookupA(record.name, server);
			if (!(after.length === 1 && after[0] === record.address)) {
				throw new Error(`${server.host}:${server.port} accepted the update but answers ${record.name} A ${after.join(', ') || 'nothing'}`);
			}
			log(`${record.name} A ${record.address} (was ${current.join(', ') || 'absent'})`);
			return 'updated';
		},
		/** `update delete <name> A`, as the old deployment's teardown did; nothing when there is no record. */
		async remove(recordName: string, { signal, log }): Promise<DnsRemoval> {
			checkRecord(recordName);
			const current = await lookupA(recordName, server);
			if (current.length === 0) {
				log(`${recordName} has no A record already`);
				return 'absent';
			}
			const name = recordName.endsWith('.') ? recordName : `${recordName}.`;
			const failure = await nsupdate([`update delete ${name} A`], signal);
			if (failure !== undefined) throw new Error(`nsupdate could not delete ${recordName} A at ${server.host}:${server.port} (zone ${zone}): ${failure}`);
			const after = await lookupA(recordName, server);
			if (after.length > 0) throw new Error(`${server.host}:${server.port} accepted the deletion but still answers ${recordName} A ${after.join(', ')}`);
			log(`${recordName} A deleted (was ${current.join(', ')})`);
			return 'removed';
		},
	};

	/** Sends `updates` signed with the key; the last line nsupdate said when it failed. */
	async function nsupdate(updates: string[], signal: AbortSignal | undefined): Promise<string | undefined> {
		const script = [`server ${server.host} ${server.port}`, `zone ${zone}`, `key ${key.algorithm}:${key.name} ${key.secret}`, ...updates, 'send', ''].join('\n');
		// zx is loaded when an update is due: a cached run never pays for it.
		const { $ } = await import('zx');
		const result = await $({ input: script, nothrow: true, quiet: true, ...(signal ? { signal } : {}) })`nsupdate -v`;
		if (result.exitCode === 0) return undefined;
		return (result.stderr || result.stdout).replaceAll(key.secret, '[secret]').trim().split('\n').filter(Boolean).at(-1) ?? `exit ${result.exitCode}`;
	}
}

/** Throws `<what> is not <expected>, got "<value>": refused` (the value escaped) unless `ok`. */
function refuseUnless(ok: boolean, what: string, value: string, expected: string): void {
	if (!ok) throw new Error(`${what} is not ${expected}, got "${printable(value.length > 100 ? `${value.slice(0, 97)}...` : value)}": refused`);
}

/**
 * The person at the keyboard is the provider: print the record to create, and check it by asking
 * a nameserver (the record is only `printed` until it is there).
 */
export function manualDns(options: { check?: Nameserver }): DnsProvider {
	return {
		description: 'manual',
		async ensure(record, { log }) {
			if (options.check) {
				const current = await lookupA(record.name, options.check);
				if (current.length === 1 && current[0] === record.address) return 'unchanged';
			}
			// The record type the address needs: an IPv6 address is AAAA, a load balancer's DNS name (AWS) a CNAME.
			const type = isIP(record.address) === 6 ? 'AAAA' : isIP(record.address) === 4 ? 'A' : 'CNAME';
			log(`create this record at your DNS provider: ${record.name}. ${record.ttl} IN ${type} ${record.address}${type === 'CNAME' ? '.' : ''}`);
			return 'printed';
		},
		async remove(name, { log }) {
			if (options.check && (await lookupA(name, options.check)).length === 0) return 'absent';
			log(`delete this record at your DNS provider: ${name}. IN A`);
			return 'printed';
		},
	};
}
