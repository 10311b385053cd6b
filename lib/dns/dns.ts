import { Resolver } from 'node:dns/promises';

/** The record nub keeps: `<hostname> A <ingress IP>`. */
export interface ARecord {
	name: string;
	address: string;
	/** Seconds; 60 as the old deployment did. */
	ttl: number;
}

/** What ensuring a record did. */
export type DnsOutcome = 'unchanged' | 'updated' | 'printed';

/** A way to make `<hostname>` point at the ingress: a DNS server nub updates, or a person. */
export interface DnsProvider {
	/** For messages: `rfc2136 at 127.0.0.1:5353 (zone example.org)`. */
	readonly description: string;
	/** Makes the record hold the address, doing nothing when it already does. */
	ensure(record: ARecord, options: { signal?: AbortSignal; log: (line: string) => void }): Promise<DnsOutcome>;
	/**
	 * Removes the A records of `name` (`nub destroy`), doing nothing when there are none. `printed`:
	 * a person must do it (manual).
	 */
	remove?(name: string, options: { signal?: AbortSignal; log: (line: string) => void }): Promise<DnsRemoval>;
}

/** What removing a record did. */
export type DnsRemoval = 'removed' | 'absent' | 'printed';

/** Where to ask: a server and port (a DNS server under test listens on a high port). */
export interface Nameserver {
	host: string;
	port: number;
}

/** The A records of `name` as `server` answers them; none when it has none. */
export async function lookupA(name: string, server: Nameserver): Promise<string[]> {
	const resolver = new Resolver({ timeout: 2000, tries: 2 });
	resolver.setServers([`${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`]);
	try {
		return (await resolver.resolve4(name)).sort();
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
		throw new Error(`cannot ask ${server.host}:${server.port} for ${name}: ${code ?? (error as Error).message}`);
	}
}

/** `host:port` (port 53 by default) into a Nameserver. */
export function parseNameserver(text: string): Nameserver {
	const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(text.trim());
	const port = Number(match?.[2] ?? 53);
	if (!match || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`"${text}" is not a DNS server address (host or host:port)`);
	return { host: match[1]!, port };
}
