/**
 * The bad-input corpus (test/bad-inputs/): one folder per case, one ava test per folder, found by
 * reading the folder list. A case folder holds the files to put in a throw-away project and
 * `case.json`:
 *
 *   kind         "nubfile": a project from makeProject with the folder's files (its Nubfile.ts);
 *                "nublado": this repository's deployment (makeNubladoProject) with the folder's
 *                files over it (nublado.yaml, replacement templates/..., landing/ files)
 *   args         the command line, e.g. ["run", "all"]
 *   env          more environment for nub (optional)
 *   exit         the documented exit code
 *   error        exit 2: a regex (anchored with ^) for the one stderr line; exit 1: for the run
 *                reporter's one FAILED line on stdout (stderr then stays empty)
 *   names        what the message must name, literally: file, field, task, variable
 *   hidden       values that must appear nowhere in the output (credentials)
 *   stdout       exit 0: a regex one line of stdout must match (optional)
 *   task         the task a "failed" or "written" state records
 *   state        "absent": no .nub/state.jsonl (nor key nor lock) appears; "unchanged": the seeded
 *                state is left byte for byte, with nothing added to .nub/; "recovered": the seeded
 *                state's torn last line is dropped, the rest kept, the run's records appended;
 *                "failed": the run recorded the task's failure; "written": the run recorded the
 *                task's success
 *   create       files that cannot be committed, made at run time: [{ "path-hex", "content-base64" }]
 *                (a file name that is not UTF-8, say), the path relative to the project
 *   repeat       files too large to commit, made at run time: [{ "path", "head"?, "line", "count",
 *                "tail"? }]: `head`, then `line` `count` times with `{n}` replaced by 0, 1, ...,
 *                then `tail` (40,000 keys of a nublado.yaml, say)
 *   certificate  a certificate (and its key) made at run time, never committed: { "cert", "key"?,
 *                "name", "notBefore"?, "days"?, "keyOf"? }: a self-signed certificate for
 *                `name` written to `cert`, and to `key` the private key of `keyOf` (another
 *                name: a key that does not match) or, by default, its own
 *   modes        modes to give files of the project once it is populated, octal, by path relative
 *                to the project: { ".nub/key": "644" } (a state key others can read)
 *   description  one sentence
 *
 * The folder's `nub-state/` goes into the project's `.nub/` (folder 0700, files 0600): the state
 * to seed (`state.jsonl`) and a state key (`key`). It is not named `.nub/` because .gitignore
 * keeps every `.nub/` out of the repository.
 *
 * Every case runs the real `nub` with a sandbox started here for the project (a child `nub run`
 * uses it rather than start its own), and checks that no request reached it.
 */
import test, { type ExecutionContext } from 'ava';
import { isUtf8 } from 'node:buffer';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { makeCa } from '../../lib/crypto/index.ts';
import { StateStore } from '../../lib/engine/state-store.ts';
import { startSandbox, type Sandbox } from '../../lib/sandbox/index.ts';
import { finished, makeNubladoProject, makeProject, removeProject, repoRoot, startNub, type NubResult } from '../helpers/project.ts';

interface Case {
	kind: 'nubfile' | 'nublado';
	args: string[];
	env?: Record<string, string>;
	exit: 0 | 1 | 2;
	error?: string;
	names?: string[];
	hidden?: string[];
	stdout?: string;
	task?: string;
	state: 'absent' | 'unchanged' | 'recovered' | 'failed' | 'written';
	create?: Array<{ 'path-hex': string; 'content-base64': string }>;
	repeat?: Array<{ path: string; head?: string; line: string; count: number; tail?: string }>;
	certificate?: { cert: string; key?: string; name: string; notBefore?: string; days?: number; keyOf?: string };
	modes?: Record<string, string>;
	description: string;
}

const casesDir = join(repoRoot, 'test/bad-inputs');
/** The folder of a case that goes into the project's .nub/. */
const seedFolder = 'nub-state';
/** How long one nub may take before it is killed (a case that hangs must not hang the suite). */
const nubTimeoutMs = 60_000;

const caseNames = readdirSync(casesDir, { withFileTypes: true })
	.filter(entry => entry.isDirectory() && existsSync(join(casesDir, entry.name, 'case.json')))
	.map(entry => entry.name)
	.sort();

/** Reads and checks a case.json: a malformed one fails its own test, saying what is wrong. */
function readCase(name: string): Case {
	const raw = JSON.parse(readFileSync(join(casesDir, name, 'case.json'), 'utf8')) as Case;
	const problems: string[] = [];
	if (raw.kind !== 'nubfile' && raw.kind !== 'nublado') problems.push('kind must be "nubfile" or "nublado"');
	if (!Array.isArray(raw.args) || raw.args.some(arg => typeof arg !== 'string')) problems.push('args must be a list of strings');
	if (![0, 1, 2].includes(raw.exit)) problems.push('exit must be 0, 1 or 2');
	if (raw.exit !== 0 && (typeof raw.error !== 'string' || !raw.error.startsWith('^'))) problems.push('error must be a regex anchored with ^');
	if (raw.exit !== 0 && (!Array.isArray(raw.names) || raw.names.length === 0)) problems.push('names must list what the message names (file, field, task)');
	if (!['absent', 'unchanged', 'recovered', 'failed', 'written'].includes(raw.state)) problems.push(`unknown state ${JSON.stringify(raw.state)}`);
	if ((raw.state === 'failed' || raw.exit === 1) && typeof raw.task !== 'string') problems.push('a failing case names its task');
	if (raw.state === 'written' && typeof raw.task !== 'string') problems.push('a "written" state names its task');
	for (const file of raw.repeat ?? []) {
		if (typeof file.path !== 'string' || typeof file.line !== 'string' || !Number.isInteger(file.count) || file.count < 1) problems.push('repeat takes { path, line, count } (and head, tail)');
	}
	const seeded = existsSync(join(casesDir, name, seedFolder, 'state.jsonl'));
	if ((raw.state === 'unchanged' || raw.state === 'recovered') !== seeded) problems.push(`state "${raw.state}" ${seeded ? 'does not go with' : 'needs'} a ${seedFolder}/state.jsonl`);
	if (raw.modes !== undefined && Object.values(raw.modes).some(mode => !/^[0-7]{3,4}$/.test(mode))) problems.push('modes must be octal, such as "644"');
	if (typeof raw.description !== 'string' || !/^[^\n]+\.$/.test(raw.description) || /\. [A-Z]/.test(raw.description)) problems.push('description must be one sentence');
	if (problems.length > 0) throw new Error(`test/bad-inputs/${name}/case.json: ${problems.join('; ')}`);
	return raw;
}

/** At most this many cases set up and run at once: each nub start-up is about a second of CPU. */
const limit = Math.max(2, Math.min(8, availableParallelism() * 2));
let running = 0;
const waiting: Array<() => void> = [];
async function limited<T>(work: () => Promise<T>): Promise<T> {
	if (running >= limit) await new Promise<void>(resolve => waiting.push(resolve));
	running++;
	try {
		return await work();
	} finally {
		running--;
		waiting.shift()?.();
	}
}

/** The sandbox's credentials, made once and copied into every case's .nub/sandbox. */
let credentials: string;
const credentialFiles = ['ca.crt', 'ca.key', 'server.crt', 'server.key', 'tokens.json'];
test.before(async () => {
	credentials = join(mkdtempSync(join(tmpdir(), 'nub-bad-inputs-')), 'sandbox');
	await (await startSandbox({ dir: credentials })).close();
});
test.after.always(() => {
	if (credentials) rmSync(join(credentials, '..'), { recursive: true, force: true });
});

test('the corpus has at least 25 cases, each a valid case.json', t => {
	t.true(caseNames.length >= 25, `${caseNames.length} cases`);
	for (const name of caseNames) t.notThrows(() => readCase(name), name);
});

/**
 * Whether the temporary folder takes any bytes as a file name: some file systems (APFS, say)
 * refuse names that are not UTF-8, and a case that must make one cannot run there.
 */
function rawNamesWork(): boolean {
	const dir = mkdtempSync(join(tmpdir(), 'nub-bad-inputs-'));
	try {
		writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x78, 0xff])]), '');
		return true;
	} catch {
		return false;
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
}
const canMakeRawNames = rawNamesWork();
const needsRawNames = (name: string) => {
	const { create } = JSON.parse(readFileSync(join(casesDir, name, 'case.json'), 'utf8')) as Partial<Case>;
	return (create ?? []).some(file => !isUtf8(Buffer.from(file['path-hex'], 'hex')));
};

for (const name of caseNames) {
	(canMakeRawNames || !needsRawNames(name) ? test : test.skip)(name, t => limited(() => runCase(t, name)));
}

/** The project's files under .nub/ other than the sandbox's, with their modes. */
function stateFiles(project: string): string[] {
	const dir = join(project, '.nub');
	if (!existsSync(dir)) return [];
	return readdirSync(dir)
		.filter(file => file !== 'sandbox')
		.sort()
		.map(file => `${file} ${(statSync(join(dir, file)).mode & 0o777).toString(8)}`);
}

/** Puts the case's files into the project: its files, its .nub/ seed, and the ones made at run time. */
function populate(project: string, name: string, spec: Case) {
	const source = join(casesDir, name);
	for (const entry of readdirSync(source)) {
		if (entry === 'case.json' || entry === seedFolder) continue;
		cpSync(join(source, entry), join(project, entry), { recursive: true, force: true });
	}
	const seed = join(source, seedFolder);
	if (existsSync(seed)) {
		const state = join(project, '.nub');
		mkdirSync(state, { mode: 0o700 });
		chmodSync(state, 0o700);
		for (const file of readdirSync(seed)) {
			copyFileSync(join(seed, file), join(state, file));
			chmodSync(join(state, file), 0o600);
		}
	}
	if (spec.certificate) {
		const { cert, key, name, notBefore, days, keyOf } = spec.certificate;
		const made = makeCa({ commonName: name, ...(notBefore ? { notBefore: new Date(notBefore) } : {}), ...(days ? { days } : {}) });
		mkdirSync(dirname(join(project, cert)), { recursive: true });
		writeFileSync(join(project, cert), made.certPem);
		if (key) writeFileSync(join(project, key), keyOf ? makeCa({ commonName: keyOf }).keyPem : made.keyPem, { mode: 0o600 });
	}
	for (const file of spec.repeat ?? []) {
		const lines = Array.from({ length: file.count }, (_, n) => file.line.replaceAll('{n}', String(n)));
		mkdirSync(dirname(join(project, file.path)), { recursive: true });
		writeFileSync(join(project, file.path), `${file.head ?? ''}${lines.join('')}${file.tail ?? ''}`);
	}
	for (const file of spec.create ?? []) {
		// A path as bytes: a name that is not UTF-8 cannot be a JavaScript string.
		const path = Buffer.concat([Buffer.from(`${project}/`), Buffer.from(file['path-hex'], 'hex')]);
		const slash = path.lastIndexOf(0x2f);
		mkdirSync(path.subarray(0, slash), { recursive: true });
		writeFileSync(path, Buffer.from(file['content-base64'], 'base64'));
	}
	for (const [path, mode] of Object.entries(spec.modes ?? {})) chmodSync(join(project, path), Number.parseInt(mode, 8));
}

/** Runs nub, killing it if it takes longer than it ever should. */
async function runNub(project: string, spec: Case): Promise<NubResult & { timedOut: boolean }> {
	// The environment of whoever runs the tests must not configure the deployment.
	const env: NodeJS.ProcessEnv = {};
	for (const key of Object.keys(process.env)) if (key.startsWith('NUBLADO_')) env[key] = undefined;
	Object.assign(env, spec.env ?? {});
	const child = startNub(project, spec.args, env);
	let timedOut = false;
	const timer = setTimeout(() => {
		timedOut = true;
		child.kill('SIGKILL');
	}, nubTimeoutMs);
	const result = await finished(child);
	clearTimeout(timer);
	return { ...result, timedOut };
}

async function runCase(t: ExecutionContext, name: string) {
	const spec = readCase(name);
	const project = spec.kind === 'nublado' ? makeNubladoProject() : makeProject();
	let sandbox: Sandbox | undefined;
	t.teardown(async () => {
		await sandbox?.close();
		removeProject(project);
	});
	populate(project, name, spec);
	const statePath = join(project, '.nub/state.jsonl');
	const seededState = existsSync(statePath) ? readFileSync(statePath) : undefined;
	const filesBefore = stateFiles(project);

	mkdirSync(join(project, '.nub/sandbox'), { recursive: true, mode: 0o700 });
	for (const file of credentialFiles) copyFileSync(join(credentials, file), join(project, '.nub/sandbox', file));
	// Short delays: should a bad input get through, its run ends soon rather than at the timeout.
	sandbox = await startSandbox({ dir: join(project, '.nub/sandbox'), loadBalancerDelayMs: 50, rolloutDelayMs: 50 });
	const requestsBefore = sandbox.requests.length;

	const result = await runNub(project, spec);
	const shown = `exit ${result.code}${result.signal ? ` (${result.signal})` : ''}\n--- stderr:\n${result.stderr}--- stdout:\n${result.stdout.slice(-3000)}`;
	t.false(result.timedOut, `nub did not finish within ${nubTimeoutMs} ms`);
	t.is(result.code, spec.exit, shown);

	// Never a stack trace nor an internal error, on either stream.
	for (const [stream, text] of [['stderr', result.stderr], ['stdout', result.stdout]] as const) {
		t.notRegex(text, /^\s+at .+(:\d+:\d+\)?|<anonymous>\)?)$/m, `a stack trace on ${stream}`);
		t.notRegex(text, /internal error/, `an internal error on ${stream}`);
	}
	for (const value of spec.hidden ?? []) t.false(result.stdout.includes(value) || result.stderr.includes(value), `${JSON.stringify(value)} appears in the output`);

	const error = spec.error === undefined ? undefined : new RegExp(spec.error);
	if (spec.exit === 2) {
		// One line, nothing else: no progress, no reporter, nothing run.
		const lines = result.stderr.split('\n').filter(line => line !== '');
		t.is(lines.length, 1, `expected one line on stderr\n${shown}`);
		t.true(result.stderr.endsWith('\n'), 'the error line ends with a newline');
		const line = lines[0] ?? '';
		t.true(line.startsWith('nub: '), `the line starts with "nub: ": ${line}`);
		t.regex(line, error!);
		for (const named of spec.names ?? []) t.true(line.includes(named), `the message names ${JSON.stringify(named)}: ${line}`);
		t.is(result.stdout, '', 'nothing on stdout');
	} else if (spec.exit === 1) {
		// A task failure is the reporter's to show, on stdout; stderr stays empty.
		t.is(result.stderr, '', 'nothing on stderr');
		const failed = result.stdout.split('\n').filter(line => /^FAILED\b/.test(line));
		t.is(failed.length, 1, `expected one FAILED line\n${shown}`);
		const line = failed[0] ?? '';
		t.regex(line, error!);
		t.true(line.includes(` ${spec.task}: `), `the FAILED line names task ${spec.task}: ${line}`);
		for (const named of spec.names ?? []) t.true(line.includes(named), `the FAILED line names ${JSON.stringify(named)}: ${line}`);
	} else {
		t.is(result.stderr, '', 'nothing on stderr');
		if (spec.stdout !== undefined) t.regex(result.stdout, new RegExp(spec.stdout, 'm'));
	}

	const reached = sandbox.requests.slice(requestsBefore);
	t.is(reached.length, 0, `requests reached the sandbox: ${reached.slice(0, 5).map(request => `${request.method} ${request.path}`).join(', ')}`);

	const filesAfter = stateFiles(project);
	switch (spec.state) {
		case 'absent':
			t.false(existsSync(statePath), 'a state was written');
			t.deepEqual(filesAfter, filesBefore, 'nothing was written to .nub/');
			break;
		case 'unchanged':
			t.deepEqual(readFileSync(statePath), seededState, 'the state changed');
			t.deepEqual(filesAfter, filesBefore, 'something was written to .nub/ (a key, a lock)');
			break;
		case 'recovered': {
			const seeded = seededState!;
			const kept = seeded.subarray(0, seeded.lastIndexOf(0x0a) + 1);
			t.not(kept.length, seeded.length, 'the seeded state has a torn last line');
			const after = readFileSync(statePath);
			t.deepEqual(after.subarray(0, kept.length), kept, 'the records before the torn line are intact');
			// The torn line is gone: everything after the kept records is whole records of this run.
			const added = after.subarray(kept.length).toString('utf8');
			t.true(added.endsWith('\n'), 'what the run added ends with a newline');
			for (const line of added.split('\n').filter(Boolean)) t.notThrows(() => JSON.parse(line), `a whole record: ${line}`);
			t.notThrows(() => StateStore.load(join(project, '.nub')));
			break;
		}
		case 'failed': {
			const history = StateStore.load(join(project, '.nub')).get(spec.task!);
			t.truthy(history?.fail, `the failure of ${spec.task} is recorded`);
			const shownError = result.stdout.split('\n').find(line => /^FAILED\b/.test(line))?.replace(/^FAILED +\S+: /, '');
			t.is(history?.fail?.error, shownError, 'the recorded error is the one shown');
			break;
		}
		case 'written': {
			const history = StateStore.load(join(project, '.nub')).get(spec.task!);
			t.truthy(history?.ok, `the success of ${spec.task} is recorded`);
			break;
		}
	}
}
