import { spawn, type ChildProcess } from 'node:child_process';
import { requireProgram } from './tools.ts';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lookupA } from '../../lib/dns/dns.ts';
import type { TsigKey } from '../../lib/dns/rfc2136.ts';

/** A real BIND9 on loopback, authoritative for `zone`, accepting TSIG-signed updates. */
export interface Bind {
	host: string;
	port: number;
	zone: string;
	key: TsigKey;
	/** Everything named printed, for a failing test's message. */
	log(): string;
	stop(): Promise<void>;
}

/** A port free for both UDP and TCP on 127.0.0.1 (DNS uses both). */
async function freePort(): Promise<number> {
	for (;;) {
		const port = await new Promise<number>((resolve, reject) => {
			const server = createServer().listen(0, '127.0.0.1', () => {
				const { port } = server.address() as { port: number };
				server.close(() => resolve(port));
			});
			server.on('error', reject);
		});
		const free = await new Promise<boolean>(resolve => {
			const socket = createSocket('udp4');
			socket.once('error', () => resolve(false));
			socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
		});
		if (free) return port;
	}
}

/** Starts named in the foreground with its own folder, and waits until it answers. */
export async function startBind(zone = 'example.test', records: Record<string, string> = {}): Promise<Bind> {
	const dir = mkdtempSync(join(tmpdir(), 'nub-bind-'));
	const port = await freePort();
	const key: TsigKey = { name: 'nub-key', algorithm: 'hmac-sha256', secret: randomBytes(32).toString('base64') };
	writeFileSync(
		join(dir, 'zone.db'),
		[`$TTL 60`, `@ IN SOA ns.${zone}. admin.${zone}. 1 3600 600 86400 60`, `@ IN NS ns.${zone}.`, `ns IN A 127.0.0.1`, ...Object.entries(records).map(([name, ip]) => `${name} IN A ${ip}`), ''].join('\n'),
	);
	writeFileSync(
		join(dir, 'named.conf'),
		`options {
	directory "${dir}";
	pid-file "${dir}/named.pid";
	session-keyfile "${dir}/session.key";
	listen-on port ${port} { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	allow-query { any; };
};
controls { };
key "${key.name}" { algorithm ${key.algorithm}; secret "${key.secret}"; };
zone "${zone}" { type primary; file "${dir}/zone.db"; allow-update { key "${key.name}"; }; };
`,
	);
	let output = '';
	const named: ChildProcess = spawn(requireProgram('named', 'bind9'), ['-g', '-c', join(dir, 'named.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
	named.stdout!.on('data', chunk => (output += chunk));
	named.stderr!.on('data', chunk => (output += chunk));
	const exited = new Promise<void>(resolve => named.once('exit', () => resolve()));
	const stop = async () => {
		named.kill('SIGTERM');
		await exited;
		rmSync(dir, { recursive: true, force: true });
	};
	const deadline = Date.now() + 20_000;
	for (;;) {
		if (named.exitCode !== null) throw new Error(`named exited: ${output}`);
		const answer = await lookupA(`ns.${zone}`, { host: '127.0.0.1', port }).catch(() => []);
		if (answer.length > 0) break;
		if (Date.now() > deadline) {
			await stop();
			throw new Error(`named did not answer within 20 s: ${output}`);
		}
		await new Promise(resolve => setTimeout(resolve, 100));
	}
	return { host: '127.0.0.1', port, zone, key, log: () => output, stop };
}
