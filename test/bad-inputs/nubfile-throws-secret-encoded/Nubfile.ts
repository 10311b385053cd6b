// A secret token, and a task that throws a plain object quoting it the ways responses and logs do:
// JSON-escaped, URL-encoded and in hex, after enough padding that a cut at 300 characters made
// before redaction would have left half of one.
import { task } from 'nub';

const token = task({ name: 'token', secret: true, run: () => 'tok/en+line\ntwo-secret-9f8e7d' });
export const all = task({
	name: 'call',
	needs: { token },
	run: ({ token }) => {
		throw {
			reason: 'the API refused the call',
			padding: 'x'.repeat(200),
			body: JSON.stringify({ token }),
			url: `https://api.example.test/?token=${encodeURIComponent(token)}`,
			hex: Buffer.from(token).toString('hex'),
		};
	},
});
