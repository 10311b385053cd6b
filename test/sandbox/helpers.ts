import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import type { ExecutionContext } from 'ava';
import { builtNubkube } from '../../cluster/control-plane.ts';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../lib/sandbox/index.ts';

/** A fresh state folder, removed when the test ends. */
export function tempDir(t: ExecutionContext): string {
	const dir = mkdtempSync(join(tmpdir(), 'nub-sandbox-'));
	t.teardown(() => rmSync(dir, { recursive: true, force: true }));
	return join(dir, 'sandbox');
}

/** Starts a sandbox on a fresh folder (short delays unless given), closed when the test ends. */
export async function withSandbox(t: ExecutionContext, options: Partial<SandboxOptions> = {}): Promise<{ sandbox: Sandbox; dir: string; kc: KubeConfig }> {
	const dir = options.dir ?? tempDir(t);
	const sandbox = await startSandbox({ loadBalancerDelayMs: 200, rolloutDelayMs: 200, ...options, dir });
	t.teardown(() => sandbox.close());
	const kc = new KubeConfig();
	kc.loadFromFile(sandbox.kubeconfigPath);
	return { sandbox, dir, kc };
}

/** The Status object of a failed client-node call, however the client carried the body. */
export function statusOf(error: unknown): { code: number; reason?: string; message?: string; details?: { name?: string; kind?: string; group?: string; causes?: Array<{ reason: string; message: string; field?: string }> } } {
	const { code, body } = error as { code: number; body: unknown };
	const parsed = typeof body === 'string' ? (JSON.parse(body) as object) : (body as object | undefined);
	return { code, ...parsed };
}

/** Polls `read` until `done` holds for its value, or fails after `timeoutMs`. */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await read();
		if (done(value)) return value;
		if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
		await new Promise(resolve => setTimeout(resolve, 50));
	}
}

/** What a kubectl run printed. */
export interface KubectlResult {
	code: number;
	stdout: string;
	stderr: string;
}

/**
 * Runs the real kubectl, of the release the test control plane is built from (cluster/), against
 * a kubeconfig; HOME is private so no discovery cache is shared between tests.
 */
export async function kubectl(kubeconfigPath: string, home: string, args: string[]): Promise<KubectlResult> {
	const build = builtNubkube();
	if (!build) throw new Error('the kubectl of the test control plane is not built: npm run cluster -- build (the README\'s test command does it)');
	try {
		const { stdout, stderr } = await promisify(execFile)(build.kubectl, ['--kubeconfig', kubeconfigPath, ...args], { env: { PATH: process.env.PATH, HOME: home }, timeout: 30_000 });
		return { code: 0, stdout, stderr };
	} catch (error) {
		const failed = error as { code?: number; stdout: string; stderr: string };
		return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout, stderr: failed.stderr };
	}
}

/** A raw HTTPS request to the sandbox, trusting its CA: status, headers and parsed JSON body. */
export function rawRequest(
	sandbox: Sandbox,
	path: string,
	options: { method?: string; token?: string; headers?: Record<string, string>; body?: string; ca?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }> {
	return new Promise((resolve, reject) => {
		const req = request(
			new URL(path, sandbox.url),
			{
				method: options.method ?? 'GET',
				ca: options.ca ?? sandbox.caPem,
				headers: { ...(options.token ? { Authorization: `Bearer ${options.token}` } : {}), ...options.headers },
			},
			res => {
				const chunks: Buffer[] = [];
				res.on('data', (chunk: Buffer) => chunks.push(chunk));
				res.on('end', () => {
					const text = Buffer.concat(chunks).toString('utf8');
					let body: unknown = text;
					try {
						body = JSON.parse(text);
					} catch {
						// not JSON: keep the text
					}
					resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
				});
			},
		);
		req.on('error', reject);
		req.end(options.body);
	});
}

/** The admin's bearer token, from the kubeconfig. */
export function adminToken(kc: KubeConfig): string {
	return kc.getUser('nub-sandbox')!.token!;
}
