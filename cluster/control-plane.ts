/**
 * nub's test control plane: kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kubectl
 * and kwok, built from the official Go modules into one binary (cluster/nubkube, as k3s links its
 * parts), cached per release in the user's cache folder, and started on loopback.
 *
 *   buildNubkube()  ->  ~/.cache/nub/nubkube-v1.36.3-<sources>/{nubkube, kubectl}
 *   startControlPlane({ dir })  ->  nubkube up --dir: ready.json, kubeconfig, audit.log
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, openSync, closeSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { checkOwnFile, userCacheDir } from '../lib/files/user-cache.ts';

/** This folder: the Go module (go.mod, go.sum, nubkube/). */
export const moduleDir = dirname(fileURLToPath(import.meta.url));

/** The Kubernetes release go.mod holds every k8s.io module at (`v1.36.3`). */
export function kubernetesRelease(): string {
	const release = /^\s*k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\s*$/m.exec(readFileSync(join(moduleDir, 'go.mod'), 'utf8'))?.[1];
	if (!release) throw new Error(`${join(moduleDir, 'go.mod')} requires no k8s.io/kubernetes release`);
	return release;
}

/** A built control plane: the binary, and kubectl (a link to it). */
export interface Build {
	release: string;
	dir: string;
	binary: string;
	kubectl: string;
}

/** What is built from: a change to any of these makes a new build (in a folder of its own). */
function sourcesHash(): string {
	const hash = createHash('sha256');
	const files = ['go.mod', 'go.sum', ...readdirSync(join(moduleDir, 'nubkube')).sort().map(name => join('nubkube', name))];
	for (const file of files) hash.update(`${file}\0`).update(readFileSync(join(moduleDir, file))).update('\0');
	return hash.digest('hex').slice(0, 12);
}

function buildFor(release: string): Build {
	const dir = userCacheDir(`nubkube-${release}-${sourcesHash()}`);
	return { release, dir, binary: join(dir, 'nubkube'), kubectl: join(dir, 'kubectl') };
}

/** The build of the current sources when it is in the cache. */
export function builtNubkube(): Build | undefined {
	const build = buildFor(kubernetesRelease());
	return isComplete(build) ? build : undefined;
}

/**
 * Whether `build` is there and nub's own: the binary a file of this user's that nobody else can
 * write, kubectl a link to it. Its folder is checked already (userCacheDir), but a binary planted
 * while the folder was open to others stays when the folder is closed: it is built again.
 */
function isComplete(build: Build): boolean {
	try {
		checkOwnFile(build.binary);
		return lstatSync(build.kubectl).isSymbolicLink() && readlinkSync(build.kubectl) === 'nubkube';
	} catch {
		return false;
	}
}

/** The cached build, or one made now; `report` hears the progress (a line at a time). */
export async function buildNubkube(report: (line: string) => void): Promise<Build> {
	const release = kubernetesRelease();
	const build = buildFor(release);
	if (isComplete(build)) return build;
	const go = checkGo();
	const started = Date.now();
	const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' };
	report(`building the control plane of Kubernetes ${release} with ${go} into ${build.dir}`);
	report('fetching its Go modules (the first build only)');
	const download = spawnSync('go', ['mod', 'download'], { cwd: moduleDir, env, encoding: 'utf8' });
	if (download.status !== 0) throw new Error(`go mod download failed: ${lastLines(download.stderr)}`);
	const stale = spawnSync('go', ['list', '-trimpath', '-deps', '-f', '{{if .Stale}}x{{end}}', './nubkube'], { cwd: moduleDir, env, encoding: 'utf8', maxBuffer: 1 << 24 });
	if (stale.status !== 0) throw new Error(`go list failed: ${lastLines(stale.stderr)}`);
	const total = stale.stdout.split('\n').filter(line => line === 'x').length;
	report(`compiling ${total} packages (2 cores: about 10 minutes the first time; later builds reuse Go's cache)`);
	const temporary = `${build.binary}.${process.pid}.tmp`;
	const version = versionFlags(release);
	const child = spawn('go', ['build', '-v', '-trimpath', '-ldflags', `-s -w ${version}`, '-o', temporary, './nubkube'], { cwd: moduleDir, env, stdio: ['ignore', 'ignore', 'pipe'] });
	let done = 0;
	let shown = 0;
	const errors: string[] = [];
	createInterface({ input: child.stderr! }).on('line', line => {
		// -v names each package as it is compiled; anything else is a compiler message.
		if (/^[\w.~/-]+$/.test(line)) done++;
		else errors.push(line);
		const percent = total > 0 ? Math.min(99, Math.floor((done * 100) / total)) : 0;
		if (percent >= shown + 10) {
			shown = percent - (percent % 10);
			report(`compiled ${done}/${total} packages (${percent}%) in ${seconds(Date.now() - started)}`);
		}
	});
	const code = await new Promise<number | null>(resolve => child.on('close', resolve));
	if (code !== 0) {
		rmSync(temporary, { force: true });
		throw new Error(`go build failed:\n${errors.slice(-20).join('\n')}`);
	}
	// Whatever the umask: a binary others could write is not run (isComplete).
	chmodSync(temporary, 0o755);
	renameSync(temporary, build.binary);
	rmSync(build.kubectl, { force: true });
	symlinkSync('nubkube', build.kubectl);
	report(`built in ${seconds(Date.now() - started)}: ${build.binary}`);
	// Earlier builds (other sources, another release) are of no more use: 140 MB each.
	for (const entry of readdirSync(dirname(build.dir))) {
		if (entry.startsWith('nubkube-') && join(dirname(build.dir), entry) !== build.dir) rmSync(join(dirname(build.dir), entry), { recursive: true, force: true });
	}
	return build;
}

/** The version the binaries report (`kubectl version`, the server's /version), as a release build sets it. */
function versionFlags(release: string): string {
	const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(release)!;
	return ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']
		.flatMap(pkg => [`${pkg}.gitVersion=${release}`, `${pkg}.gitMajor=${major}`, `${pkg}.gitMinor=${minor}`, `${pkg}.gitTreeState=clean`])
		.map(flag => `-X ${flag}`)
		.join(' ');
}

/** The Go on the PATH, checked against what go.mod needs. */
function checkGo(): string {
	const found = spawnSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' });
	if (found.error || found.status !== 0) throw new Error('go is not on the PATH: the control plane is built from Go sources (Go 1.26 or newer; Debian: apt-get install golang, or https://go.dev/dl)');
	const version = found.stdout.trim();
	const needed = /^go (\d+\.\d+)/m.exec(readFileSync(join(moduleDir, 'go.mod'), 'utf8'))?.[1] ?? '1.26';
	const have = /^go(\d+)\.(\d+)/.exec(version);
	const [needMajor, needMinor] = needed.split('.').map(Number) as [number, number];
	if (!have || Number(have[1]) < needMajor || (Number(have[1]) === needMajor && Number(have[2]) < needMinor)) {
		throw new Error(`${version} is too old to build the control plane: it needs Go ${needed} or newer`);
	}
	return version;
}

/** What `nubkube up` wrote to ready.json. */
export interface ReadyInfo {
	pid: number;
	kubeconfig: string;
	/** The context nub deploys with: user `operatorUser`, cluster-admin through an RBAC binding. */
	context: string;
	/** A context in system:masters, for set-up and inspection. */
	adminContext: string;
	operatorUser: string;
	server: string;
	auditLog: string;
	nodes: number;
	startedIn: string;
}

export interface StartOptions {
	/** The cluster's folder (credentials, etcd's data, logs, the audit log). */
	dir: string;
	build: Build;
	nodes?: number;
	/** From a pod's scheduling to its readiness (kwok). Default 1 s. */
	podReadyDelayMs?: number;
	/** How long a LoadBalancer address takes. Default 2 s. */
	loadBalancerDelayMs?: number;
	/** The control plane outlives this process (`npm run cluster -- up`); else it ends with it. */
	detached?: boolean;
}

/** A started control plane. */
export interface ControlPlane extends ReadyInfo {
	dir: string;
	build: Build;
	/** Stops every part and waits until they are gone. */
	stop(): Promise<void>;
}

/** Starts `nubkube up` and resolves once the cluster is ready (nodes Ready, controllers running). */
export async function startControlPlane(options: StartOptions): Promise<ControlPlane> {
	const args = [
		'up',
		`--dir=${options.dir}`,
		`--nodes=${options.nodes ?? 3}`,
		`--pod-ready-delay=${options.podReadyDelayMs ?? 1000}ms`,
		`--lb-delay=${options.loadBalancerDelayMs ?? 2000}ms`,
	];
	let child: ChildProcess;
	if (options.detached) {
		rmSync(join(options.dir, 'ready.json'), { force: true });
		const log = openSync(join(options.dir, 'up.log'), 'a', 0o600);
		child = spawn(options.build.binary, args, { detached: true, stdio: ['ignore', log, log] });
		closeSync(log);
		child.unref();
		// Until ready.json names it, this says a control plane is starting here.
		writeFileSync(join(options.dir, 'up.pid'), `${child.pid}\n`, { mode: 0o600 });
	} else {
		child = spawn(options.build.binary, [...args, '--watch-stdin'], { stdio: ['pipe', 'pipe', 'pipe'] });
		// It must not keep this process alive: when this process ends, however it ends, its end of
		// the pipe closes and the control plane stops.
		child.unref();
		for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
	}
	const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)));
	let output = '';
	child.stderr?.setEncoding('utf8').on('data', chunk => (output = (output + chunk).slice(-8000)));
	child.stdout?.setEncoding('utf8').on('data', chunk => (output = (output + chunk).slice(-8000)));
	const readyFile = join(options.dir, 'ready.json');
	const ready = await new Promise<ReadyInfo>((resolve, reject) => {
		const timer = setInterval(() => {
			if (!existsSync(readyFile)) return;
			clearInterval(timer);
			resolve(JSON.parse(readFileSync(readyFile, 'utf8')) as ReadyInfo);
		}, 100);
		void exited.then(code => {
			clearInterval(timer);
			const log = options.detached ? readTail(join(options.dir, 'up.log')) : output;
			reject(new Error(`the control plane did not start (nubkube up exited with ${code}):\n${log.trim()}`));
		});
	});
	const stop = async () => {
		if (options.detached) {
			await stopDetached(ready.pid);
			return;
		}
		child.stdin?.end();
		const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
		await exited;
		clearTimeout(timer);
	};
	return { ...ready, dir: options.dir, build: options.build, stop };
}

/** Stops a detached `nubkube up` by its pid and waits until it is gone. */
export async function stopDetached(pid: number): Promise<void> {
	try {
		process.kill(pid, 'SIGTERM');
	} catch {
		return;
	}
	const deadline = Date.now() + 60_000;
	while (isAlive(pid)) {
		if (Date.now() > deadline) {
			process.kill(pid, 'SIGKILL');
			break;
		}
		await new Promise(resolve => setTimeout(resolve, 100));
	}
}

export function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}

/** One request the API server recorded (audit level Metadata). */
export interface AuditEvent {
	verb: string;
	requestURI: string;
	user: { username: string };
	userAgent?: string;
	objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string; subresource?: string };
	responseStatus?: { code?: number };
	stage: string;
}

/** The requests in the audit log, in order. */
export function auditEvents(file: string): AuditEvent[] {
	const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
	return text.split('\n').filter(Boolean).map(line => JSON.parse(line) as AuditEvent);
}

const mutatingVerbs = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** The requests by `user` that changed, or asked to change, the cluster (dry runs excluded). */
export function mutatingRequests(events: readonly AuditEvent[], user: string): AuditEvent[] {
	return events.filter(event => event.user.username === user && mutatingVerbs.has(event.verb) && !/[?&]dryRun=/.test(event.requestURI));
}

function readTail(file: string): string {
	try {
		return readFileSync(file, 'utf8').slice(-4000);
	} catch {
		return '';
	}
}

function lastLines(text: string): string {
	return text.trim().split('\n').slice(-10).join('\n');
}

function seconds(ms: number): string {
	const s = Math.round(ms / 1000);
	return s >= 120 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}
