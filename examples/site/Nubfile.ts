/**
 * A small static site, built by nub as make would build it: pages/*.md through layout.html into
 * out/*.html, style.css copied by a shell step, and a sitemap from the list of pages. Every task
 * declares the files it reads (`inputs`) and writes (`outputs`): a missing or edited output is
 * built again, and `nub watch site` rebuilds what an edit reaches.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { cmd, task } from 'nub';

/** The little Markdown a small site needs: `#` headings, paragraphs, `*emphasis*` and `[links](url)`. */
function markdown(text: string): string {
	const escape = (line: string) => line.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
	const inline = (line: string) =>
		escape(line)
			.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<a href="$2">$1</a>')
			.replace(/\*([^*]+)\*/g, '<em>$1</em>');
	return text
		.split(/\n\s*\n/)
		.map(block => block.trim())
		.filter(block => block !== '')
		.map(block => {
			const heading = /^(#{1,3}) (.*)$/.exec(block);
			if (heading) return `<h${heading[1]!.length}>${inline(heading[2]!)}</h${heading[1]!.length}>`;
			return `<p>${inline(block.replace(/\s*\n\s*/g, ' '))}</p>`;
		})
		.join('\n');
}

/** Each page of pages/ as out/<name>.html; its output is the list of page names. */
export const pages = task({
	name: 'pages',
	description: 'pages/*.md through layout.html into out/*.html',
	inputs: { files: ['pages', 'layout.html'] },
	outputs: { files: ['out/*.html'] },
	run: (_, { root, log }) => {
		const layout = readFileSync(join(root, 'layout.html'), 'utf8');
		const names = readdirSync(join(root, 'pages'))
			.filter(name => name.endsWith('.md'))
			.map(name => basename(name, '.md'))
			.sort();
		mkdirSync(join(root, 'out'), { recursive: true });
		for (const name of names) {
			const text = readFileSync(join(root, 'pages', `${name}.md`), 'utf8');
			const title = /^# (.*)$/m.exec(text)?.[1] ?? name;
			writeFileSync(join(root, 'out', `${name}.html`), layout.replace('{{title}}', title).replace('{{body}}', markdown(text)));
			log.info(`out/${name}.html`);
		}
		return names;
	},
});

/** A shell step: the command's text is part of the key, so editing it rebuilds. */
export const styles = cmd('mkdir -p out && cp style.css out/style.css', {
	name: 'styles',
	description: 'style.css into out/',
	inputs: { files: ['style.css'] },
	outputs: { files: ['out/style.css'] },
});

/** One line per page: after an edit to a page's text it is written again with the same bytes. */
export const sitemap = task({
	name: 'sitemap',
	description: 'out/sitemap.txt: the pages',
	needs: { pages },
	outputs: { files: ['out/sitemap.txt'] },
	run: ({ pages }, { root }) => {
		writeFileSync(join(root, 'out', 'sitemap.txt'), pages.map(name => `/${name}.html\n`).join(''));
	},
});

export const site = task({ name: 'site', description: 'the whole site in out/', needs: { pages, styles, sitemap } });
