/**
 * Credentials as the configuration names them: the RabbitMQ password is refused, before anything
 * runs (by its task's preflight), when logstash-rabbitmq-shovel could not take it (it writes it
 * into an amqp:// URI with sed), and the refusal never shows the password.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../lib/config/nublado.ts';
import { credentialsOf, CredentialError, readCredential } from '../../tasks/credentials.ts';
import { makeNubladoProject, nub, removeProject, summaryOf } from '../helpers/project.ts';

const config = parseConfig(
	`hostname: nb.example.org
oauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }
logging: { enabled: true, rabbitmqHost: rmq.example.org, rabbitmqVhost: logs, rabbitmqPassword: { env: RMQ }, beatsCa: a, beatsCert: b, beatsKey: c }
`,
	'nublado.yaml',
);
const password = credentialsOf(config).rabbitmqPassword!;

test('a RabbitMQ password the shovel can take is read', t => {
	t.is(readCredential(password, '/nonexistent', { RMQ: 'Rabbit-password_77.x' }), 'Rabbit-password_77.x');
});

for (const [value, shown] of [['pass/word', '/'], ['p&ss', '&'], ['user@host', '@'], ['with space', ' '], ['50%off', '%']] as const) {
	test(`a RabbitMQ password with ${JSON.stringify(shown)} is refused, naming the character and not the password`, t => {
		const error = t.throws(() => readCredential(password, '/nonexistent', { RMQ: value }), { instanceOf: CredentialError });
		t.true(error!.message.startsWith(`logging.rabbitmqPassword: has ${JSON.stringify(shown)}, which logstashrmq cannot take`), error!.message);
		t.false(error!.message.includes(value));
	});
}

/**
 * The credentials are read by the tasks that use them, when a run needs them: the commands that
 * only look at the graph work without them, and a run without one stops before anything.
 */
test('list, graph and destroy --dry-run need no credentials; a run without one stops in one line, exit 2, nothing run', async t => {
	const dir = makeNubladoProject({
		'nublado.yaml': `hostname: nublado.example.test
oauth: { provider: github, clientId: an-id, clientSecret: { env: OAUTH_SECRET }, allowedGroups: [lsst] }
dhparam: { group: ffdhe2048 }
`,
	});
	t.teardown(() => removeProject(dir));
	for (const args of [['list'], ['graph', 'all'], ['destroy', '--dry-run']]) {
		const result = await nub(dir, args);
		t.is(result.code, 0, `nub ${args.join(' ')}: ${result.stderr}`);
	}
	const refused = await nub(dir, ['run', 'all']);
	t.is(refused.code, 2, refused.stderr);
	t.deepEqual(refused.stderr.trim().split('\n'), ['nub: oauth.clientSecret: the environment variable OAUTH_SECRET is not set']);
	t.false(existsSync(join(dir, '.nub', 'state.jsonl')) && readFileSync(join(dir, '.nub', 'state.jsonl'), 'utf8').includes('"name"'), 'a task was recorded');
	const given = await nub(dir, ['run', 'all', '--json'], { OAUTH_SECRET: 'a-client-secret' });
	t.is(given.code, 0, given.stderr);
	t.deepEqual(summaryOf(given.stdout).cached, [], 'something ran before, though the run was refused');
});
