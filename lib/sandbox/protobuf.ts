/**
 * Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) into
 * JSON objects. kubectl's typed clients send protobuf, with no fallback to JSON: `kubectl create
 * namespace` does. Only the types kubectl's simple `create` generators make are described here;
 * any other type is answered 415, which names JSON as what the sandbox reads.
 *
 *   "k8s\0" + runtime.Unknown { 1: TypeMeta { 1: apiVersion, 2: kind }, 2: raw (the object's message) }
 *
 * Field numbers are those of k8s.io/api/core/v1 and k8s.io/apimachinery/pkg/apis/meta/v1
 * generated.proto. Go's encoder writes every non-pointer field even when empty, so empty strings,
 * zeros and empty messages are dropped, as the JSON encoder's omitempty would (fields marked
 * `optional` are pointers in Go and kept even when zero).
 */
import type { Json } from './patch.ts';
import { ApiError, badRequest, failure } from './status.ts';

type FieldType = 'string' | 'bytes' | 'int' | 'bool' | 'time' | 'stringMap' | 'bytesMap' | Message;
interface Field {
	name: string;
	type: FieldType;
	repeated?: boolean;
	/** A pointer in Go: kept when zero. */
	optional?: boolean;
}
type Message = { [number: number]: Field };

const time = 'time' as const;
const objectMeta: Message = {
	1: { name: 'name', type: 'string' },
	2: { name: 'generateName', type: 'string' },
	3: { name: 'namespace', type: 'string' },
	5: { name: 'uid', type: 'string' },
	6: { name: 'resourceVersion', type: 'string' },
	7: { name: 'generation', type: 'int' },
	8: { name: 'creationTimestamp', type: time },
	11: { name: 'labels', type: 'stringMap' },
	12: { name: 'annotations', type: 'stringMap' },
	14: { name: 'finalizers', type: 'string', repeated: true },
};
const objectReference: Message = {
	1: { name: 'kind', type: 'string' },
	2: { name: 'namespace', type: 'string' },
	3: { name: 'name', type: 'string' },
	4: { name: 'uid', type: 'string' },
	5: { name: 'apiVersion', type: 'string' },
	6: { name: 'resourceVersion', type: 'string' },
	7: { name: 'fieldPath', type: 'string' },
};

/** The described types by `apiVersion/kind`. */
const messages: Record<string, Message> = {
	'v1/Namespace': {
		1: { name: 'metadata', type: objectMeta },
		2: { name: 'spec', type: { 1: { name: 'finalizers', type: 'string', repeated: true } } },
		3: { name: 'status', type: { 1: { name: 'phase', type: 'string' } } },
	},
	'v1/ConfigMap': {
		1: { name: 'metadata', type: objectMeta },
		2: { name: 'data', type: 'stringMap' },
		3: { name: 'binaryData', type: 'bytesMap' },
		4: { name: 'immutable', type: 'bool', optional: true },
	},
	'v1/Secret': {
		1: { name: 'metadata', type: objectMeta },
		2: { name: 'data', type: 'bytesMap' },
		3: { name: 'type', type: 'string' },
		4: { name: 'stringData', type: 'stringMap' },
		5: { name: 'immutable', type: 'bool', optional: true },
	},
	'v1/ServiceAccount': {
		1: { name: 'metadata', type: objectMeta },
		2: { name: 'secrets', type: objectReference, repeated: true },
		3: { name: 'imagePullSecrets', type: { 1: { name: 'name', type: 'string' } }, repeated: true },
		4: { name: 'automountServiceAccountToken', type: 'bool', optional: true },
	},
};

const envelope: Message = {
	1: { name: 'typeMeta', type: { 1: { name: 'apiVersion', type: 'string' }, 2: { name: 'kind', type: 'string' } } },
	2: { name: 'raw', type: 'bytes' },
};
const magic = Buffer.from('k8s\0', 'latin1');

/** The JSON object a protobuf body encodes; throws 400 for a damaged body, 415 for an undescribed type. */
export function decodeProtobufObject(body: Buffer): Json {
	if (!body.subarray(0, 4).equals(magic)) throw badRequest('the body of the request is not a Kubernetes protobuf message');
	let unknown: Record<string, Json>;
	try {
		unknown = decodeMessage(body.subarray(4), envelope) as Record<string, Json>;
	} catch {
		throw badRequest('the protobuf body of the request could not be decoded');
	}
	const typeMeta = (unknown.typeMeta ?? {}) as Record<string, string>;
	const message = messages[`${typeMeta.apiVersion}/${typeMeta.kind}`];
	if (!message) {
		throw new ApiError(
			failure(415, 'UnsupportedMediaType', `the sandbox reads ${typeMeta.kind ?? 'this type'} only as JSON or YAML, not application/vnd.kubernetes.protobuf`),
		);
	}
	const raw = Buffer.from(String(unknown.raw ?? ''), 'base64');
	return { apiVersion: typeMeta.apiVersion!, kind: typeMeta.kind!, ...(decodeMessage(raw, message) as Record<string, Json>) };
}

/** Decodes one message; bytes become base64 text, as JSON carries them. */
function decodeMessage(buffer: Buffer, message: Message): Json {
	const reader = new Reader(buffer);
	const result: Record<string, Json> = {};
	while (!reader.done) {
		const tag = reader.varint();
		const [number, wire] = [Math.floor(tag / 8), tag % 8];
		const field = message[number];
		if (!field) {
			reader.skip(wire);
			continue;
		}
		const value = decodeField(reader, wire, field.type);
		if (field.type === 'stringMap' || field.type === 'bytesMap') {
			const [key, entry] = value as [string, Json];
			result[field.name] = { ...((result[field.name] as Record<string, Json> | undefined) ?? {}), [key]: entry };
		} else if (field.repeated) {
			result[field.name] = [...((result[field.name] as Json[] | undefined) ?? []), value];
		} else if (!isEmpty(value) || field.optional) {
			result[field.name] = value;
		}
	}
	return result;
}

function decodeField(reader: Reader, wire: number, type: FieldType): Json {
	if (type === 'int') return reader.varint();
	if (type === 'bool') return reader.varint() !== 0;
	const bytes = reader.lengthDelimited(wire);
	switch (type) {
		case 'string':
			return bytes.toString('utf8');
		case 'bytes':
			return bytes.toString('base64');
		case 'time': {
			const { seconds } = decodeMessage(bytes, { 1: { name: 'seconds', type: 'int' } }) as { seconds?: number };
			return seconds ? new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z') : '';
		}
		case 'stringMap':
		case 'bytesMap': {
			const entry = decodeMessage(bytes, { 1: { name: 'key', type: 'string', optional: true }, 2: { name: 'value', type: type === 'stringMap' ? 'string' : 'bytes', optional: true } }) as Record<string, string>;
			return [entry.key ?? '', entry.value ?? ''];
		}
		default:
			return decodeMessage(bytes, type);
	}
}

function isEmpty(value: Json): boolean {
	return value === '' || value === 0 || value === false || (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0);
}

/** Reads protobuf wire format. */
class Reader {
	private offset = 0;
	constructor(private readonly buffer: Buffer) {}

	get done(): boolean {
		return this.offset >= this.buffer.length;
	}

	/** A varint; numbers beyond 2^53 lose precision, which no described field reaches. */
	varint(): number {
		let result = 0;
		let scale = 1;
		for (;;) {
			if (this.offset >= this.buffer.length) throw new Error('truncated varint');
			const byte = this.buffer[this.offset++]!;
			result += (byte & 0x7f) * scale;
			if (byte < 0x80) return result;
			scale *= 128;
		}
	}

	lengthDelimited(wire: number): Buffer {
		if (wire !== 2) throw new Error(`expected a length-delimited field, got wire type ${wire}`);
		const length = this.varint();
		if (this.offset + length > this.buffer.length) throw new Error('truncated field');
		const bytes = this.buffer.subarray(this.offset, this.offset + length);
		this.offset += length;
		return bytes;
	}

	skip(wire: number): void {
		if (wire === 0) this.varint();
		else if (wire === 1) this.offset += 8;
		else if (wire === 5) this.offset += 4;
		else this.lengthDelimited(wire);
	}
}
