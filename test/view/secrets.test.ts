import test from 'ava';
import { renderDot, renderHtml, renderJson, renderMermaid, renderSvg, renderText, type GraphView } from '../../lib/view/index.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';
import { scenario, secretValue } from './scenario.ts';

const dir = tempDir();
let view: GraphView;
test.before(async () => ({ view } = await scenario(dir)));
test.after.always(() => cleanup(dir));

const renderers: Record<string, (view: GraphView) => string | Promise<string>> = {
	text: view => renderText(view),
	'coloured text': view => renderText(view, { color: true }),
	dot: renderDot,
	mermaid: renderMermaid,
	json: renderJson,
	svg: renderSvg,
	html: renderHtml,
};

for (const [format, render] of Object.entries(renderers)) {
	test(`no secret output in the ${format}`, async t => {
		const output = await render(view);
		for (const form of [secretValue, Buffer.from(secretValue).toString('base64')]) t.false(output.includes(form), form);
		t.true(output.includes('secret'));
	});
}

test('the secret task still shows its state, and the marker in place of its output', async t => {
	t.regex(renderText(view), /hub:token \(secret\) +\[hub\] +✓ cached/);
	t.true(renderJson(view).includes('"output": "[secret]"'));
	t.true((await renderHtml(view)).includes('"output":"[secret]"'));
});
