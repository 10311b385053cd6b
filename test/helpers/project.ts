import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The nublado.yaml the real-control-plane tests start from: GitHub OAuth with its secret from
 * OAUTH_SECRET, small DH parameters, the prepuller at minute 17. A test appends what it adds.
 */
export const githubNubladoYaml = `hostname: nublado.example.test
oauth:
  provider: github
  clientId: client-123
  clientSecret: { env: OAUTH_SECRET }
  allowedGroups: [lsst-sqre]
dhparam: { bits: 1024 }
prepuller: { minute: 17 }
`;
const bin = join(repoRoot, 'bin/nub.js');

/**
 * A throw-away project folder outside the repository, where `import { task } from 'nub'` resolves
 * to this checkout (through node_modules/nub) exactly as in a user's project.
 */
export function makeProject(files: Record<string, string> = {}, fixture?: string): string {
	const dir = mkdtempSync(join(tmpdir(), 'nub-test-'));
	mkdirSync(join(dir, 'node_modules'));
	symlinkSync(repoRoot, join(dir, 'node_modules/nub'));
	writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
	if (fixture) cpSync(join(repoRoot, 'test/fixtures', fixture), dir, { recursive: true });
	for (const [name, content] of Object.entries(files)) {
		mkdirSync(dirname(join(dir, name)), { recursive: true });
		writeFileSync(join(dir, name), content);
	}
	return dir;
}

/** Removes a project made by `makeProject`. */
export function removeProject(dir: string): void {
	rmSync(dir, { recursive: true, force: true });
}

/** What a finished `nub` process left. */
export interface NubResult {
	code: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
}

const baseEnv = () => {
	const env: NodeJS.ProcessEnv = { ...process.env };
	delete env.NUB_STATE_KEY;
	env.CI = 'true';
	env.NO_COLOR = '1';
	return env;
};

/**
 * Runs the real `nub` binary in `cwd` and waits for it, without blocking the test process (ava
 * runs a file's tests concurrently, and some of them poll while others wait).
 */
export function nub(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<NubResult> {
	return finished(startNub(cwd, args, env));
}

/** Starts the real `nub` binary without waiting. */
export function startNub(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
	return spawn(process.execPath, [bin, ...args], { cwd, env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Collects a child's output and waits for its end. */
export function finished(child: ChildProcess): Promise<NubResult> {
	let stdout = '';
	let stderr = '';
	child.stdout?.setEncoding('utf8').on('data', chunk => (stdout += chunk));
	child.stderr?.setEncoding('utf8').on('data', chunk => (stderr += chunk));
	return new Promise(resolve => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/**
 * Starts the real `nub` binary and collects its output as it comes, for a command that runs
 * until it is stopped (`nub watch`): `output` grows while `done` waits for its end.
 */
export function liveNub(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; output: { stdout: string; stderr: string }; done: Promise<NubResult> } {
	const child = startNub(cwd, args, env);
	const output = { stdout: '', stderr: '' };
	child.stdout!.setEncoding('utf8').on('data', chunk => (output.stdout += chunk));
	child.stderr!.setEncoding('utf8').on('data', chunk => (output.stderr += chunk));
	return { child, output, done: finished(child) };
}

/** Every `{"summary": ...}` line of `--json` output (one per round of `nub watch`), in order. */
export function summariesOf(stdout: string): Array<Record<string, string[]>> {
	return stdout
		.split('\n')
		.filter(line => line.startsWith('{"summary"'))
		.map(line => (JSON.parse(line) as { summary: Record<string, string[]> }).summary);
}

/** The `{"summary": ...}` line of `--json` output. */
export function summaryOf(stdout: string): Record<string, string[]> & { retries: Record<string, number> } {
	const line = stdout.trim().split('\n').at(-1)!;
	return (JSON.parse(line) as { summary: Record<string, string[]> & { retries: Record<string, number> } }).summary;
}

/** Polls `check` every 10 ms until it is true (deadline 30 s). */
export async function waitFor(check: () => boolean, what: string): Promise<void> {
	const deadline = Date.now() + 30_000;
	while (!check()) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise(resolve => setTimeout(resolve, 10));
	}
}

/**
 * A copy of this repository's nublado deployment (Nubfile.ts, tasks/, templates/, hub/, landing/)
 * in a throw-away folder, with lib/ linked to this checkout, plus `files` (a nublado.yaml, say).
 */
export function makeNubladoProject(files: Record<string, string> = {}): string {
	const dir = makeProject();
	for (const part of ['Nubfile.ts', 'tasks', 'templates', 'hub', 'landing']) cpSync(join(repoRoot, part), join(dir, part), { recursive: true });
	symlinkSync(join(repoRoot, 'lib'), join(dir, 'lib'));
	for (const [name, content] of Object.entries(files)) {
		mkdirSync(dirname(join(dir, name)), { recursive: true });
		writeFileSync(join(dir, name), content);
	}
	return dir;
}
