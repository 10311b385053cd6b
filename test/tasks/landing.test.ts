import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeObject } from '../../lib/k8s/objects.ts';
import { folderMapTask, type FolderMap } from '../../tasks/landing.ts';
import { cleanup, runTasks, tempDir } from '../helpers/engine.ts';

const mapOf = (folder: string) => folderMapTask({ name: 'landing-content', group: 'landing', description: 'x', configMap: 'landing-page-www', namespace: 'nublado', folder });

test('an absolute folder is used as it is, not joined to the project; a relative one is the project\'s; dotfiles stay out', async t => {
	const project = tempDir();
	const elsewhere = mkdtempSync(join(tmpdir(), 'nub-landing-'));
	t.teardown(() => {
		cleanup(project);
		rmSync(elsewhere, { recursive: true, force: true });
	});
	writeFileSync(join(elsewhere, 'index.html'), 'elsewhere\n');
	writeFileSync(join(elsewhere, '.env'), 'TOKEN=abc\n');
	mkdirSync(join(project, 'landing'));
	writeFileSync(join(project, 'landing', 'index.html'), 'inside\n');
	for (const [folder, expected] of [[elsewhere, 'elsewhere\n'], ['landing', 'inside\n']] as const) {
		const { summary, events } = await runTasks(project, [mapOf(folder)]);
		t.deepEqual(summary.failed, [], JSON.stringify(summary.errors));
		const end = events.find(event => event.type === 'task-end' && event.name === 'landing-content');
		const configMap = (end?.type === 'task-end' ? (end.output as unknown as FolderMap) : undefined)?.configMap as KubeObject;
		t.deepEqual(configMap.data, { 'index.html': expected }, folder);
	}
});
