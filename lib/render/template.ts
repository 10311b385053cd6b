import Mustache from 'mustache';
import { parseAllDocuments, Scalar, visit } from 'yaml';
import type { KubeObject } from '../k8s/objects.ts';
import { recordSource } from '../k8s/sources.ts';

/** A value a template may insert. */
export type TemplateValue = string | number | boolean;

/** A template that cannot be rendered: names the file, the line and what is wrong. */
export class TemplateError extends Error {
	override readonly name = 'TemplateError';
}

/**
 * Renders a mustache template of Kubernetes YAML strictly, and parses it into objects.
 *
 * - Every `{{NAME}}` must have a value: a missing one is an error naming it (mustache's default,
 *   an empty string, is how the old deployment tool shipped broken manifests).
 * - No HTML escaping, and no value can change the YAML's structure: variables are rendered as
 *   placeholders, the YAML is parsed, and only then are the placeholders replaced inside the
 *   parsed strings. A value holding a newline, `: ` or `#` stays one string. A placeholder that is
 *   a whole scalar takes the value's type (`replicas: {{REPLICAS}}` with 2 gives the number 2).
 * - Sections `{{#FLAG}}...{{/FLAG}}` and `{{^FLAG}}...{{/FLAG}}` include or leave out a block
 *   for a boolean FLAG (optional parts of a manifest).
 *
 * Each object remembers its file and document position for later messages.
 */
export function renderTemplate(template: string, values: Readonly<Record<string, TemplateValue>>, file: string): KubeObject[] {
	const placeholders = new Map<string, TemplateValue>();
	let text: string;
	try {
		const tokens = Mustache.parse(template, ['{{', '}}']) as Token[];
		const missing = missingNames(tokens, values, template);
		if (missing.length > 0) {
			const given = Object.keys(values).filter(key => values[key] !== undefined).sort();
			throw new TemplateError(
				`${file}: no value for ${missing.map(([name, line]) => `{{${name}}} (line ${line})`).join(', ')}${given.length > 0 ? `; given: ${given.join(', ')}` : ''}`,
			);
		}
		text = expand(tokens, values, placeholders, template, file);
	} catch (error) {
		if (error instanceof TemplateError) throw error;
		// Mustache says where by character offset ("Unclosed section "X" at 156", the end of the
		// text): say the line, and for an unclosed section the line that opens it.
		const message = (error as Error).message.replace(/ at (\d+)$/, '');
		const unclosed = /^Unclosed section "(.+)"$/.exec(message)?.[1];
		const opened = unclosed === undefined ? -1 : template.search(new RegExp(`\\{\\{\\s*[#^]\\s*${unclosed.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*\\}\\}`));
		const offset = opened >= 0 ? opened : Number(/\bat (\d+)$/.exec((error as Error).message)?.[1] ?? NaN);
		throw new TemplateError(`${file}${Number.isNaN(offset) ? '' : `:${lineOf(template, offset)}`}: ${message}`);
	}
	const objects: KubeObject[] = [];
	const documents = parseAllDocuments(text);
	for (const [index, document] of (Array.isArray(documents) ? documents : [documents]).entries()) {
		const problem = document.errors[0];
		if (problem) {
			const line = problem.linePos?.[0]?.line;
			throw new TemplateError(`${file}${line ? `:${line}` : ''}: not valid YAML: ${problem.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
		}
		// Substitute in the parsed tree, where a value cannot add structure; a plain scalar takes the
		// value's type, a quoted one stays a string (`value: "{{PORT}}"` is the string "8080").
		visit(document, {
			Scalar(_, node) {
				if (typeof node.value !== 'string' || !node.value.includes('__nub_')) return;
				const quoted = node.type !== undefined && node.type !== Scalar.PLAIN;
				node.value = fill(node.value, placeholders, quoted);
			},
		});
		const value = document.toJS() as unknown;
		if (value === null || value === undefined) continue;
		if (typeof value !== 'object' || Array.isArray(value)) throw new TemplateError(`${file} (document ${index + 1}): a manifest must be a mapping`);
		const object = value as KubeObject;
		recordSource(object, { file, document: index + 1 });
		objects.push(object);
	}
	return objects;
}

/** What Mustache.parse returns: [type, value, start, end, children?]. */
type Token = [string, string, number, number, Token[]?, number?];

function expand(tokens: Token[], values: Readonly<Record<string, TemplateValue>>, placeholders: Map<string, TemplateValue>, template: string, file: string): string {
	let out = '';
	for (const token of tokens) {
		const [type, name, start] = token;
		switch (type) {
			case 'text':
				out += name;
				break;
			case 'name':
			case '&': {
				const value = lookup(values, name, template, start, file);
				const placeholder = `__nub_${placeholders.size}_${name.replace(/\W/g, '_')}__`;
				placeholders.set(placeholder, value);
				out += placeholder;
				break;
			}
			case '#':
			case '^': {
				const flag = lookup(values, name, template, start, file);
				if (typeof flag !== 'boolean') {
					throw new TemplateError(`${file}:${lineOf(template, start)}: section {{${type}${name}}} needs a true or false value, got ${JSON.stringify(flag)}`);
				}
				if (flag === (type === '#')) out += expand(token[4] ?? [], values, placeholders, template, file);
				break;
			}
			case '!':
				break;
			default:
				throw new TemplateError(`${file}:${lineOf(template, start)}: {{${type}${name}}} is not supported (variables and true/false sections only)`);
		}
	}
	return out;
}

/** Every variable and section name without a value, with its first line: all reported at once. */
function missingNames(tokens: Token[], values: Readonly<Record<string, TemplateValue>>, template: string, found = new Map<string, number>()): Array<[string, number]> {
	for (const token of tokens) {
		const [type, name, start] = token;
		if ((type === 'name' || type === '&' || type === '#' || type === '^') && (!Object.hasOwn(values, name) || values[name] === undefined) && !found.has(name)) {
			found.set(name, lineOf(template, start));
		}
		if (token[4]) missingNames(token[4], values, template, found);
	}
	return [...found];
}

function lookup(values: Readonly<Record<string, TemplateValue>>, name: string, template: string, at: number, file: string): TemplateValue {
	if (!Object.hasOwn(values, name)) {
		const known = Object.keys(values).sort();
		throw new TemplateError(`${file}:${lineOf(template, at)}: no value for {{${name}}}${known.length > 0 ? ` (given: ${known.join(', ')})` : ''}`);
	}
	return values[name]!;
}

/** A whole-scalar placeholder takes the value (as text when quoted); inside a longer string, its text. */
function fill(text: string, placeholders: ReadonlyMap<string, TemplateValue>, quoted: boolean): unknown {
	const whole = placeholders.get(text);
	if (whole !== undefined) return quoted ? String(whole) : whole;
	return text.replace(/__nub_\d+_\w*?__/g, match => (placeholders.has(match) ? String(placeholders.get(match)) : match));
}

function lineOf(text: string, offset: number): number {
	let line = 1;
	for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
	return line;
}
