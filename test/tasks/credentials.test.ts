/**
 * Credentials as the configuration names them: the RabbitMQ password is refused, before anything
 * runs, when logstash-rabbitmq-shovel could not take it (it writes it into an amqp:// URI with
 * sed), and the refusal never shows the password.
 */
import test from 'ava';
import { parseConfig } from '../../lib/config/nublado.ts';
import { CredentialError, readCredentials } from '../../tasks/credentials.ts';

const config = parseConfig(
	`hostname: nb.example.org
oauth: { provider: jwt, jwtCertificate: hub/example-signing-certificate.crt }
logging: { enabled: true, rabbitmqHost: rmq.example.org, rabbitmqVhost: logs, rabbitmqPassword: { env: RMQ }, beatsCa: a, beatsCert: b, beatsKey: c }
`,
	'nublado.yaml',
);

test('a RabbitMQ password the shovel can take is read', t => {
	t.is(readCredentials(config, '/nonexistent', { RMQ: 'Rabbit-password_77.x' }).rabbitmqPassword, 'Rabbit-password_77.x');
});

for (const [password, shown] of [['pass/word', '/'], ['p&ss', '&'], ['user@host', '@'], ['with space', ' '], ['50%off', '%']] as const) {
	test(`a RabbitMQ password with ${JSON.stringify(shown)} is refused, naming the character and not the password`, t => {
		const error = t.throws(() => readCredentials(config, '/nonexistent', { RMQ: password }), { instanceOf: CredentialError });
		t.true(error!.message.startsWith(`logging.rabbitmqPassword: has ${JSON.stringify(shown)}, which logstashrmq cannot take`), error!.message);
		t.false(error!.message.includes(password));
	});
}
