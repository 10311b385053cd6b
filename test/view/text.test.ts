import test from 'ava';
import { renderText, type GraphView, type ViewNode } from '../../lib/view/index.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';
import { scenario } from './scenario.ts';

const dir = tempDir();
let view: GraphView;
test.before(async () => ({ view } = await scenario(dir)));
test.after.always(() => cleanup(dir));

const columns = (line: string) => Array.from(line).length;
const plain = (text: string) => text.replace(/\u001B\[\d+m/g, '');

test('every line fits in 100 columns by default, and in the width asked for', t => {
	for (const width of [100, 60, 40]) {
		const text = renderText(view, width === 100 ? {} : { width });
		for (const line of text.trimEnd().split('\n')) t.true(columns(line) <= width, `${columns(line)} > ${width}: ${line}`);
	}
});

test('one line per task with its group, state and why; a long reason is cut with …', t => {
	const lines = renderText(view).split('\n');
	const lineOf = (name: string) => {
		const found = lines.filter(line => new RegExp(`^[│├└─ ]*${name.replace('.', '\\.')}( \\(secret\\))? `).test(line) && !line.endsWith('(see above)'));
		t.is(found.length, 1, name);
		return found[0]!;
	};
	t.regex(lineOf('namespace'), /\[core\] +✓ cached$/);
	t.regex(lineOf('hub:token'), /hub:token \(secret\) +\[hub\] +✓ cached$/);
	t.regex(lineOf('nfs-service-ip'), /\[fileserver\] +▶ will run: config changed$/);
	t.regex(lineOf('fileserver'), /◇ may run: nfs-service-ip will run; reruns only/);
	t.regex(lineOf('hub.config'), /\[hub\] +✗ failed: could not write \/var\/lib\/nublado\/hub\/config\.yaml:.*…$/);
	t.regex(lineOf('hub'), /⊘ blocked by hub\.config$/);
	t.regex(lineOf('notes'), /⊘ blocked by hub\.config$/);
	t.regex(lineOf('landing'), /↻ forced$/);
	t.regex(lineOf('newcomer'), /○ never ran$/);
	t.regex(lineOf('stuck'), /✗ interrupted$/);
	t.regex(lineOf('all'), /^all +⊘ blocked by hub\.config, stuck$/);
	t.is(lines[0], 'nub graph all: 11 tasks');
	t.is(lines[1], '1 forced, 1 failed, 1 interrupted, 3 blocked, 1 never ran, 1 will run, 1 may run, 2 cached');
});

test('a task already shown is referenced, not repeated', t => {
	const text = renderText(view);
	t.is(text.match(/namespace \(see above\)$/gm)?.length, 3);
	t.regex(text, /^│  └─ hub\.config \(see above\)$/m);
});

test('colour only when asked, and the colours take no columns', t => {
	t.false(renderText(view).includes('\u001B['));
	const coloured = renderText(view, { color: true, width: 70 });
	t.regex(coloured, /\u001B\[31m✗ failed: /);
	for (const line of coloured.trimEnd().split('\n')) t.true(columns(plain(line)) <= 70, plain(line));
	t.is(plain(coloured), renderText(view, { width: 70 }));
});

test('a chain deeper than the width: the tree keeps its last levels and every line fits', t => {
	const nodes: ViewNode[] = Array.from({ length: 3000 }, (_, i) => ({
		name: `step-${i}`,
		secret: false,
		isGroup: false,
		needs: i === 0 ? [] : [`step-${i - 1}`],
		state: 'cached',
		why: [],
	}));
	const text = renderText({ targets: ['step-2999'], nodes, groups: [] });
	const lines = text.trimEnd().split('\n');
	t.is(lines.length, 3 + 3000);
	for (const line of lines) t.true(columns(line) <= 100);
	t.regex(lines.at(-1)!, /^… +└─ step-0 +✓ cached$/);
});
