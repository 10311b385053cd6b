import test from 'ava';
import { renderJson, type GraphView } from '../../lib/view/index.ts';
import { cleanup, tempDir } from '../helpers/engine.ts';
import { scenario } from './scenario.ts';

const dir = tempDir();
let view: GraphView;
test.before(async () => ({ view } = await scenario(dir)));
test.after.always(() => cleanup(dir));

test('the JSON is the view, pretty-printed, and parses back to it', t => {
	const json = renderJson(view);
	t.true(json.startsWith('{\n  "targets": [\n    "all"\n  ],'));
	t.deepEqual(JSON.parse(json), view);
	t.is(renderJson(JSON.parse(json) as GraphView), json);
});
