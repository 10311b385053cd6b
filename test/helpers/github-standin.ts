import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A GitHub user of the stand-in, and the organizations they belong to. */
export interface GitHubUser {
	login: string;
	id: number;
	name?: string;
	email?: string;
	organizations: Array<{ login: string; id: number }>;
}

/** What the stand-in was asked, for the tests to check. */
export interface GitHubRequest {
	method: string;
	path: string;
	query: Record<string, string>;
}

export interface GitHubStandIn {
	/** `127.0.0.1:<port>`: GITHUB_HOST for oauthenticator, with GITHUB_HTTP set (plain HTTP). */
	host: string;
	/** The user the next authorization logs in as. */
	loginAs(login: string): void;
	requests: GitHubRequest[];
	close(): Promise<void>;
}

/**
 * A loopback stand-in for GitHub's OAuth flow and the parts of its API that oauthenticator and the
 * LSST GitHub authenticator call, as GitHub Enterprise serves them (`/login/oauth/...`, the API
 * under `/api/v3`): authorize (redirecting back with a code), the token exchange (checking the
 * client's id and secret), the user, their organizations and emails, and organization membership.
 */
export async function startGitHubStandIn(options: { clientId: string; clientSecret: string; users: GitHubUser[] }): Promise<GitHubStandIn> {
	const users = new Map(options.users.map(user => [user.login, user]));
	const codes = new Map<string, string>();
	const tokens = new Map<string, string>();
	const requests: GitHubRequest[] = [];
	let next = options.users[0]?.login ?? '';
	let serial = 0;
	const json = (response: ServerResponse, code: number, body: unknown) => response.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
	const userOf = (request: IncomingMessage) => {
		const token = /^token (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
		const login = token ? tokens.get(token) : undefined;
		return login ? users.get(login) : undefined;
	};
	const server = createServer((request, response) => {
		const url = new URL(request.url ?? '/', 'http://localhost');
		const query = Object.fromEntries(url.searchParams);
		requests.push({ method: request.method ?? 'GET', path: url.pathname, query });
		if (url.pathname === '/login/oauth/authorize') {
			if (query.client_id !== options.clientId) return json(response, 400, { error: 'unknown client' });
			const code = `code-${++serial}`;
			codes.set(code, next);
			const back = new URL(query.redirect_uri!);
			back.searchParams.set('code', code);
			if (query.state) back.searchParams.set('state', query.state);
			response.writeHead(302, { Location: back.toString() }).end();
			return;
		}
		if (url.pathname === '/login/oauth/access_token' && request.method === 'POST') {
			const login = codes.get(query.code ?? '');
			if (query.client_id !== options.clientId || query.client_secret !== options.clientSecret) return json(response, 200, { error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' });
			if (!login) return json(response, 200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
			codes.delete(query.code!);
			const token = `token-${++serial}`;
			tokens.set(token, login);
			return json(response, 200, { access_token: token, token_type: 'bearer', scope: 'public_repo,read:org,user:email' });
		}
		const api = /^\/api\/v3(\/.*)$/.exec(url.pathname)?.[1];
		const user = userOf(request);
		if (api && !user) return json(response, 401, { message: 'Bad credentials' });
		if (api === '/user') return json(response, 200, { login: user!.login, id: user!.id, name: user!.name ?? null, email: user!.email ?? null });
		if (api === '/user/orgs') return json(response, 200, user!.organizations);
		if (api === '/user/emails') return json(response, 200, user!.email ? [{ email: user!.email, primary: true, verified: true }] : []);
		const membership = api && /^\/orgs\/([^/]+)\/members\/([^/]+)$/.exec(api);
		if (membership) {
			const member = users.get(membership[2]!)?.organizations.some(organization => organization.login === membership[1]);
			response.writeHead(member ? 204 : 404).end();
			return;
		}
		json(response, 404, { message: 'Not Found' });
	});
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	return {
		host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
		loginAs: login => {
			if (!users.has(login)) throw new Error(`the GitHub stand-in has no user ${login}`);
			next = login;
		},
		requests,
		close: () => new Promise(resolve => server.close(() => resolve())),
	};
}
