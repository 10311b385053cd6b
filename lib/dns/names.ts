/**
 * Whether `text` is a DNS name as a record or a zone may name it: dot-separated labels of letters,
 * digits and inner hyphens, 1 to 63 characters each, 253 in all, with or without the final dot.
 * Underscores are allowed inside a label (`_acme-challenge`, TSIG key names). Nothing else: no
 * space, newline or semicolon, so a name that passes can go into an nsupdate script as it is.
 */
export function isDnsName(text: string): boolean {
	const name = text.endsWith('.') ? text.slice(0, -1) : text;
	return name.length >= 1 && name.length <= 253 && name.split('.').every(label => dnsLabel.test(label));
}

const dnsLabel = /^[A-Za-z0-9_](?:[-A-Za-z0-9_]{0,61}[A-Za-z0-9_])?$/;
