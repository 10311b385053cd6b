import { nodeStates, type GraphView } from './model.ts';
import { countStates, looks, summarize } from './states.ts';
import { renderSvg } from './svg.ts';

/**
 * The graph as one self-contained HTML page: the SVG drawing inline, a legend of the states, and
 * a panel that shows a task's details (description, group, state, why, last run, output) when a
 * task is hovered, focused or clicked (a click pins it). Nothing is fetched: the CSS, the script
 * and the view's data are inline, and the page's Content-Security-Policy forbids any request. The
 * data is the view itself, where secret outputs are already the marker `[secret]`.
 */
export async function renderHtml(view: GraphView): Promise<string> {
	const svg = await renderSvg(view);
	const title = `nub graph ${view.targets.join(' ')}`.trimEnd();
	const counts = new Map(countStates(view).map(({ state, count }) => [state, count]));
	const legend = nodeStates.map(state => {
		const look = looks[state];
		const swatch = `background:${look.fill};border:${look.heavy ? 2 : 1}px ${look.line} ${look.stroke}`;
		return `<li><span class="swatch" style="${swatch}"></span>${look.label} <span class="count">${counts.get(state) ?? 0}</span></li>`;
	});
	legend.push(
		'<li><span class="swatch secret"></span>secret (double outline)</li>',
		'<li><span class="swatch group"></span>group task (oval)</li>',
		'<li><span class="edge"></span>carries a failure</li>',
	);
	const labels = Object.fromEntries(nodeStates.map(state => [state, looks[state].label]));
	return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${css}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><p class="summary">${escapeHtml(summarize(view))}</p></header>
<ul class="legend">${legend.join('')}</ul>
<main>
<div class="graph">${svg.slice(svg.indexOf('<svg'))}</div>
<aside id="details" aria-live="polite"></aside>
</main>
<script type="application/json" id="nub-view">${jsonForScript(view)}</script>
<script>
const labels = ${jsonForScript(labels)};
${script}
</script>
</body>
</html>
`;
}

/** JSON inside a <script>: `<` written as `\u003c`, so no `</script>` or `<!--` in the data ends it. */
function jsonForScript(value: unknown): string {
	return JSON.stringify(value).replace(/</g, '\\u003c');
}

function escapeHtml(text: string): string {
	return text.replace(/[&<>"']/g, char => `&#${char.charCodeAt(0)};`);
}

const css = `
:root { font: 14px/1.45 system-ui, sans-serif; color: #212121; }
body { margin: 0; height: 100vh; display: flex; flex-direction: column; }
header { padding: 12px 16px 0; }
h1 { font-size: 18px; margin: 0; }
.summary { color: #616161; margin: 2px 0 0; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 0; padding: 8px 16px; border-bottom: 1px solid #e0e0e0; font-size: 13px; }
.swatch { display: inline-block; box-sizing: border-box; width: 18px; height: 12px; border-radius: 3px; margin-right: 5px; vertical-align: -1px; }
.swatch.secret { border: 3px double #616161; }
.swatch.group { border: 1px solid #616161; border-radius: 50%; }
.edge { display: inline-block; width: 18px; margin-right: 5px; vertical-align: middle; border-top: 2px dashed #c62828; }
.count { color: #757575; }
main { flex: 1; display: flex; min-height: 0; }
.graph { flex: 1; overflow: auto; padding: 16px; }
.graph svg { max-width: 100%; height: auto; }
g.node { cursor: pointer; }
g.node:focus { outline: none; }
g.node.selected :is(path, polygon, ellipse) { stroke-width: 3.5; }
aside { width: 380px; flex: none; overflow: auto; padding: 12px 16px; border-left: 1px solid #e0e0e0; background: #fafafa; }
aside h2 { font-size: 16px; margin: 0 0 4px; word-break: break-all; }
.hint, .description { color: #616161; margin: 0 0 8px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 12px; margin: 0; }
dt { color: #757575; }
dd { margin: 0; min-width: 0; }
dd ul { margin: 0; padding-left: 18px; }
pre { margin: 0; padding: 6px 8px; background: #fff; border: 1px solid #e0e0e0; border-radius: 4px; overflow: auto; max-height: 40vh; font-size: 12px; }
.state { font-weight: 600; }
`;

/** The page's behaviour: fill the panel from the embedded view. Text goes in as text, never as HTML. */
const script = `
const view = JSON.parse(document.getElementById('nub-view').textContent);
const tasks = new Map(view.nodes.map(node => [node.name, node]));
const panel = document.getElementById('details');
let pinned;

function add(parent, tag, text, className) {
	const element = document.createElement(tag);
	if (text !== undefined) element.textContent = text;
	if (className) element.className = className;
	parent.append(element);
	return element;
}

function duration(ms) {
	return ms >= 1000 ? (ms / 1000).toFixed(1) + ' s' : Math.round(ms) + ' ms';
}

function show(name) {
	for (const node of document.querySelectorAll('g.node.selected')) node.classList.remove('selected');
	panel.replaceChildren();
	const task = tasks.get(name);
	if (!task) {
		add(panel, 'p', 'Hover over or click a task to see its state and why it will or will not run.', 'hint');
		return;
	}
	document.getElementById('node-' + name)?.classList.add('selected');
	add(panel, 'h2', task.name);
	if (task.description) add(panel, 'p', task.description, 'description');
	const facts = add(panel, 'dl');
	const fact = (term, text) => {
		add(facts, 'dt', term);
		return add(facts, 'dd', text);
	};
	fact('state', labels[task.state]).className = 'state';
	if (task.blockedBy) fact('blocked by', task.blockedBy.join(', '));
	if (task.why.length === 0) {
		fact('why', task.state === 'cached' ? 'nothing changed since its last success' : '-');
	} else {
		const reasons = add(fact('why'), 'ul');
		for (const reason of task.why) add(reasons, 'li', reason);
	}
	if (task.group) fact('group', task.group);
	if (task.isGroup) fact('kind', 'group task: it gathers what it needs');
	if (task.secret) fact('secret', 'yes: its output is never shown');
	fact('needs', task.needs.length > 0 ? task.needs.join(', ') : 'nothing');
	const last = task.last;
	if (!last) {
		fact('last run', 'none recorded');
		return;
	}
	fact('last run', last.outcome + ' at ' + new Date(last.at).toLocaleString() + ', took ' + duration(last.durationMs));
	if (last.error) fact('error', last.error);
	if ('output' in last) add(fact('output'), 'pre', JSON.stringify(last.output, null, 2));
}

for (const node of document.querySelectorAll('g.node')) {
	const name = node.id.slice('node-'.length);
	if (!tasks.has(name)) continue;
	node.setAttribute('tabindex', '0');
	node.addEventListener('mouseenter', () => show(name));
	node.addEventListener('mouseleave', () => show(pinned));
	node.addEventListener('focus', () => show(name));
	node.addEventListener('blur', () => show(pinned));
	node.addEventListener('click', () => {
		pinned = pinned === name ? undefined : name;
		show(name);
	});
}
show(undefined);
`;
