import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireProgram } from '../helpers/tools.ts';
import { nodeStates, renderHtml, type GraphView } from '../../lib/view/index.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';
import { scenario, secretValue } from './scenario.ts';

const dir = tempDir();
let view: GraphView;
let html: string;
let browser: Browser;
test.before(async () => {
	({ view } = await scenario(dir));
	html = await renderHtml(view);
	browser = await chromium.launch({ executablePath: requireProgram('/usr/bin/chromium', 'chromium'), args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
test.after.always(async () => {
	await browser?.close();
	cleanup(dir);
});

/**
 * The page opened in headless Chromium with every request blocked and recorded, and the console
 * errors and page errors collected.
 */
async function open(): Promise<{ page: Page; requests: string[]; errors: string[] }> {
	const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
	const requests: string[] = [];
	const errors: string[] = [];
	await context.route('**/*', route => {
		requests.push(route.request().url());
		return route.abort();
	});
	const page = await context.newPage();
	page.on('request', request => requests.push(request.url()));
	page.on('console', message => message.type() === 'error' && errors.push(message.text()));
	page.on('pageerror', error => errors.push(error.message));
	await page.setContent(html, { waitUntil: 'load' });
	return { page, requests, errors };
}

test('it opens with no request at all and no error, one drawn node per task, and a screenshot', async t => {
	const { page, requests, errors } = await open();
	t.is(await page.locator('svg g.node').count(), view.nodes.length);
	for (const node of view.nodes) t.is(await page.locator(`svg g.node[id="node-${node.name}"]`).count(), 1, node.name);
	// One entry per state, and three for the marks (secret, group task, a failed task's edges).
	t.is(await page.locator('.legend li').count(), nodeStates.length + 3);
	const shots = mkdtempSync(join(tmpdir(), 'nub-view-'));
	t.teardown(() => rmSync(shots, { recursive: true, force: true }));
	const file = join(shots, 'graph.png');
	await page.screenshot({ path: file, fullPage: true });
	const png = readFileSync(file);
	t.true(png.length > 1000);
	t.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
	t.deepEqual(requests, []);
	t.deepEqual(errors, []);
	await page.context().close();
});

test('hovering a task shows its details; a click pins them', async t => {
	const { page, errors } = await open();
	const panel = page.locator('#details');
	t.regex(await panel.innerText(), /Hover over or click a task/);
	await page.hover('g.node[id="node-hub.config"]');
	const failed = await panel.innerText();
	t.regex(failed, /^hub\.config\n/);
	t.regex(failed, /state\s+failed/);
	t.regex(failed, /group\s+hub/);
	t.true(failed.includes('failed last time: could not write /var/lib/nublado/hub/config.yaml'));
	t.regex(failed, /last run\s+failed at .*, took \d+ ms/);
	await page.click('g.node[id="node-fileserver"]');
	t.regex(await panel.innerText(), /nfs-service-ip will run; reruns only if its output changes/);
	t.regex(await panel.innerText(), /"server": "10\.0\.0\.7"/);
	await page.mouse.move(1, 1);
	t.regex(await panel.innerText(), /^fileserver\n/);
	t.is(await page.locator('g.node.selected').getAttribute('id'), 'node-fileserver');
	t.deepEqual(errors, []);
	await page.context().close();
});

test('the secret task shows the marker, never its value', async t => {
	const { page } = await open();
	await page.click('g.node[id="node-hub:token"]');
	const details = await page.locator('#details').innerText();
	t.regex(details, /secret\s+yes: its output is never shown/);
	t.regex(details, /output\s+"\[secret\]"/);
	t.false((await page.content()).includes(secretValue));
	await page.context().close();
});

test('the data cannot end its script: </script> in a description stays text', async t => {
	const hostile: GraphView = {
		targets: ['x'],
		groups: [],
		nodes: [{ name: 'x', description: '</script><script>document.title="owned"</script>', secret: false, isGroup: false, needs: [], state: 'cached', why: [] }],
	};
	const page = await browser.newPage();
	const errors: string[] = [];
	page.on('pageerror', error => errors.push(error.message));
	await page.setContent(await renderHtml(hostile));
	await page.hover('g.node[id="node-x"]');
	t.is(await page.locator('#details .description').innerText(), hostile.nodes[0]!.description!);
	t.is(await page.title(), 'nub graph x');
	t.deepEqual(errors, []);
	await page.close();
});
