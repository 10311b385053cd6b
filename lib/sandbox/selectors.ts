/**
 * Label and field selectors of list and watch requests, in the syntax of the real server
 * (`app=web,tier!=db,env in (a,b),!legacy`; `metadata.name=web`).
 */
import type { KubeObject } from './patch.ts';
import { asRecord, metadataOf } from './object.ts';
import type { ResourceType } from './resources.ts';
import { badRequest } from './status.ts';

/** A parsed selector: true for the objects it selects. */
export type Selector = (object: KubeObject) => boolean;

/** Fields every type can be selected by; the real server accepts only a few per type. */
const commonFields = ['metadata.name', 'metadata.namespace'];
const extraFields: Record<string, string[]> = {
	pods: ['spec.nodeName', 'spec.serviceAccountName', 'status.phase', 'status.podIP'],
	events: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'reason', 'type'],
	secrets: ['type'],
	namespaces: ['status.phase'],
	jobs: ['status.successful'],
};

/** Parses `labelSelector`; throws a 400 ApiError for bad syntax. */
export function parseLabelSelector(text: string): Selector {
	const requirements = splitTerms(text).map(parseLabelTerm);
	return object => {
		const labels = metadataOf(object).labels ?? {};
		return requirements.every(matches => matches(labels));
	};
}

/** Parses `fieldSelector` for a type; throws a 400 ApiError for bad syntax or an unsupported field. */
export function parseFieldSelector(text: string, type: ResourceType): Selector {
	const terms = splitTerms(text).map(term => {
		const match = /^([^!=]+)(==|=|!=)(.*)$/.exec(term);
		if (!match) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
		const [, field, operator, value] = match as unknown as [string, string, string, string];
		if (!commonFields.includes(field) && !(extraFields[type.resource] ?? []).includes(field)) {
			throw badRequest(`field label not supported: ${field}`);
		}
		return { path: field.split('.'), equal: operator !== '!=', value };
	});
	return object => terms.every(term => (fieldValue(object, term.path) === term.value) === term.equal);
}

/** Splits on commas outside parentheses (`a in (x,y),b`). */
function splitTerms(text: string): string[] {
	const terms: string[] = [];
	let depth = 0;
	let current = '';
	for (const char of text) {
		if (char === '(') depth++;
		if (char === ')') depth--;
		if (char === ',' && depth === 0) {
			terms.push(current.trim());
			current = '';
		} else current += char;
	}
	if (current.trim() !== '') terms.push(current.trim());
	return terms;
}

function parseLabelTerm(term: string): (labels: Record<string, string>) => boolean {
	let match = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(term);
	if (match) {
		const [, key, operator, value] = match as unknown as [string, string, string, string];
		return operator === '!=' ? labels => labels[key] !== value : labels => labels[key] === value;
	}
	match = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
	if (match) {
		const [, key, operator, list] = match as unknown as [string, string, string, string];
		const values = list.split(',').map(value => value.trim());
		return operator === 'in'
			? labels => labels[key] !== undefined && values.includes(labels[key])
			: labels => labels[key] === undefined || !values.includes(labels[key]);
	}
	match = /^(!?)([\w./-]+)$/.exec(term);
	if (match) {
		const [, not, key] = match as unknown as [string, string, string];
		return not ? labels => labels[key] === undefined : labels => labels[key] !== undefined;
	}
	throw badRequest(`unable to parse requirement: found '${term}', expected: identifier`);
}

/** The value at a dotted path as a string (fields compare as text), or '' when absent. */
function fieldValue(object: KubeObject, path: string[]): string {
	let value: unknown = object;
	for (const part of path) value = asRecord(value)?.[part];
	return value === undefined || value === null ? '' : String(value);
}
