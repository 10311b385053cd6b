import test from 'ava';
import { renderSvg, type GraphView } from '../../lib/view/index.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';
import { decodeSvg, svgNodeNames } from './helpers.ts';
import { scenario } from './scenario.ts';

const dir = tempDir();
let view: GraphView;
test.before(async () => ({ view } = await scenario(dir)));
test.after.always(() => cleanup(dir));

test('Graphviz in WebAssembly draws one node per task, each with the id node-<name> and its state', async t => {
	const svg = decodeSvg(await renderSvg(view));
	t.regex(svg, /^<\?xml[^]*<svg [^]*<\/svg>\s*$/);
	t.deepEqual(svgNodeNames(svg).sort(), view.nodes.map(node => node.name).sort());
	t.regex(svg, /<g id="node-hub\.config" class="node">[^]*?>failed<\/text>/);
});
