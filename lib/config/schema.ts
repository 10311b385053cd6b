import { nearest } from '../engine/suggest.ts';

/**
 * A small schema language for configuration files: enough to check a YAML document field by
 * field, report every problem at once (field, what was expected, what was found, the nearest known
 * key for a misspelt one) and fill in defaults. Hand-written rather than a JSON Schema library so
 * that the messages read like a person wrote them.
 */
export type Field =
	| { type: 'string'; required?: boolean; default?: string; pattern?: RegExp; expected?: string; doc?: string }
	| { type: 'integer'; required?: boolean; default?: number; min?: number; max?: number; doc?: string }
	| { type: 'number'; required?: boolean; default?: number; min?: number; doc?: string }
	| { type: 'boolean'; required?: boolean; default?: boolean; doc?: string }
	| { type: 'enum'; values: readonly string[]; required?: boolean; default?: string; doc?: string }
	| { type: 'list'; items: Field; required?: boolean; default?: readonly unknown[]; doc?: string }
	| { type: 'object'; fields: Record<string, Field>; required?: boolean; doc?: string }
	/** A mapping whose keys the file chooses (task names), every value checked against `values`. */
	| { type: 'map'; values: Field; keys?: RegExp; expectedKey?: string; doc?: string }
	/** A credential given by reference: `{ env: NAME }` or `{ file: path }`, never its value. */
	| { type: 'secret'; required?: boolean; doc?: string };

/**
 * The value `check` returns for `F`, as a type: a schema declared `as const satisfies Field` is then
 * the one declaration of both the checks and the type, so a field added to it is in the type too.
 * A field is present when it is required, has a default, or is an object (an absent object is
 * checked as `{}`, which fills in its own defaults); any other is optional.
 */
export type FieldValue<F extends Field> = F extends { type: 'string' }
	? string
	: F extends { type: 'integer' | 'number' }
		? number
		: F extends { type: 'boolean' }
			? boolean
			: F extends { type: 'enum'; values: ReadonlyArray<infer V> }
				? V
				: F extends { type: 'list'; items: infer Item extends Field }
					? Array<FieldValue<Item>>
					: F extends { type: 'secret' }
						? SecretRef
						: F extends { type: 'object'; fields: infer Fields extends Record<string, Field> }
							? FieldsValue<Fields>
							: F extends { type: 'map'; values: infer Value extends Field }
								? Record<string, FieldValue<Value>>
								: never;

/** An object's fields as `check` returns them: see FieldValue. */
type FieldsValue<Fields extends Record<string, Field>> = Flat<
	{ -readonly [K in keyof Fields as Present<Fields[K]> extends true ? K : never]: FieldValue<Fields[K]> } & {
		-readonly [K in keyof Fields as Present<Fields[K]> extends true ? never : K]?: FieldValue<Fields[K]>;
	}
>;

/** Whether `check` always gives the field a value (when it reports no problem). */
type Present<F extends Field> = F extends { type: 'object' } | { type: 'map' } | { required: true } | { default: unknown } ? true : false;

/** One object type from an intersection, for readable types in an editor. */
export type Flat<T> = { [K in keyof T]: T[K] } & {};

/** One problem: where (a dotted path) and what. */
export interface Problem {
	path: string;
	message: string;
}

/** A credential reference as written in the file. */
export type SecretRef = { env: string } | { file: string };

/**
 * Checks `value` against `field`, returning the value with defaults filled in and the problems
 * found (all of them). Values that fail keep their place out of the result.
 */
export function check(field: Field, value: unknown, path: string, problems: Problem[]): unknown {
	if (value === undefined || value === null) {
		if ('default' in field && field.default !== undefined) return structuredClone(field.default);
		if (field.type === 'object') return value === null && field.required ? missing(path, problems) : check(field, {}, path, problems);
		if (field.type === 'map') return {};
		if (field.required) return missing(path, problems);
		return undefined;
	}
	const got = describe(value);
	const problem = (message: string) => {
		problems.push({ path, message });
		return undefined;
	};
	switch (field.type) {
		case 'string':
			if (typeof value !== 'string') return problem(`expected ${field.expected ?? 'a string'}, got ${got}`);
			if (/[\n\r\0]/.test(value)) return problem(`expected ${field.expected ?? 'a single line'}, got a value with a line break`);
			if (field.pattern && !field.pattern.test(value)) return problem(`expected ${field.expected ?? `text matching ${field.pattern}`}, got ${got}`);
			return value;
		case 'integer':
			if (typeof value !== 'number' || !Number.isInteger(value)) return problem(`expected a whole number${range(field)}, got ${got}`);
			if ((field.min !== undefined && value < field.min) || (field.max !== undefined && value > field.max)) return problem(`expected a whole number${range(field)}, got ${value}`);
			return value;
		case 'number':
			if (typeof value !== 'number' || !Number.isFinite(value)) return problem(`expected a number, got ${got}`);
			if (field.min !== undefined && value < field.min) return problem(`expected a number of at least ${field.min}, got ${value}`);
			return value;
		case 'boolean':
			if (typeof value !== 'boolean') return problem(`expected true or false, got ${got}`);
			return value;
		case 'enum':
			if (typeof value !== 'string' || !field.values.includes(value)) {
				const near = typeof value === 'string' ? nearest(value, field.values) : undefined;
				return problem(`expected one of ${field.values.join(', ')}, got ${got}${near ? ` (did you mean "${near}"?)` : ''}`);
			}
			return value;
		case 'list': {
			if (!Array.isArray(value)) return problem(`expected a list, got ${got}`);
			return value.map((item, index) => check(field.items, item, `${path}[${index}]`, problems));
		}
		case 'secret': {
			const ref = value as Partial<Record<'env' | 'file', unknown>>;
			const keys = typeof value === 'object' && !Array.isArray(value) ? Object.keys(value) : [];
			const valid = keys.length === 1 && ((keys[0] === 'env' && typeof ref.env === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(ref.env)) || (keys[0] === 'file' && typeof ref.file === 'string' && ref.file !== ''));
			if (!valid) {
				return problem(`expected a reference to the secret, { env: VARIABLE } or { file: path }, got ${typeof value === 'string' ? 'the value itself (keep credentials out of this file)' : got}`);
			}
			return value;
		}
		case 'object': {
			if (typeof value !== 'object' || Array.isArray(value)) return problem(`expected a mapping of fields, got ${got}`);
			const result: Record<string, unknown> = {};
			const known = Object.keys(field.fields);
			for (const key of Object.keys(value)) {
				if (!Object.hasOwn(field.fields, key)) {
					const near = nearest(key, known);
					problems.push({ path: join(path, key), message: `unknown field${near ? ` (did you mean "${near}"?)` : `; known here: ${known.join(', ')}`}` });
				}
			}
			for (const [key, child] of Object.entries(field.fields)) {
				const checked = check(child, (value as Record<string, unknown>)[key], join(path, key), problems);
				if (checked !== undefined) result[key] = checked;
			}
			return result;
		}
		case 'map': {
			if (typeof value !== 'object' || Array.isArray(value)) return problem(`expected a mapping, got ${got}`);
			const result: Record<string, unknown> = {};
			for (const [key, item] of Object.entries(value)) {
				if (field.keys && !field.keys.test(key)) {
					problems.push({ path: join(path, key), message: `expected ${field.expectedKey ?? `a key matching ${field.keys}`}, got ${describe(key)}` });
					continue;
				}
				const checked = check(field.values, item, join(path, key), problems);
				if (checked !== undefined) result[key] = checked;
			}
			return result;
		}
	}
}

function missing(path: string, problems: Problem[]): undefined {
	problems.push({ path, message: 'is required' });
	return undefined;
}

function range(field: { min?: number; max?: number }): string {
	if (field.min !== undefined && field.max !== undefined) return ` from ${field.min} to ${field.max}`;
	if (field.min !== undefined) return ` of at least ${field.min}`;
	if (field.max !== undefined) return ` of at most ${field.max}`;
	return '';
}

function join(path: string, key: string): string {
	return path ? `${path}.${key}` : key;
}

/** `"two"`, `a list`, `true`: what was found, briefly. */
export function describe(value: unknown): string {
	if (value === null) return 'nothing';
	if (Array.isArray(value)) return 'a list';
	if (typeof value === 'object') return 'a mapping';
	if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
	return String(value);
}

/** Every leaf path of a schema with its field: for environment overrides and documentation. */
export function leaves(field: Field, path = ''): Array<[string, Field]> {
	if (field.type !== 'object') return [[path, field]];
	return Object.entries(field.fields).flatMap(([key, child]) => leaves(child, join(path, key)));
}
