import { isIP } from 'node:net';
import { isDnsName } from '../dns/names.ts';
import { printable } from '../engine/printable.ts';
import { describeObject, type KubeObject } from './objects.ts';

/** The address a LoadBalancer Service reports: an IP (most clouds) or a DNS name (AWS). */
export type LoadBalancerAddress = { ip: string; hostname?: never } | { hostname: string; ip?: never };

/** A Service's external address that is neither an IP address nor a DNS name: refused, never used. */
export class LoadBalancerAddressError extends Error {
	override readonly name = 'LoadBalancerAddressError';
}

/**
 * The first external address of a LoadBalancer Service, checked: `status.loadBalancer.ingress[0]`
 * is written by whoever may update the Service's status, and what it says goes into a DNS update.
 * An `ip` must be an IP address (node:net's isIP), a `hostname` a DNS name; anything else throws
 * a LoadBalancerAddressError showing the value escaped. Undefined while there is none yet.
 */
export function loadBalancerAddress(service: KubeObject): LoadBalancerAddress | undefined {
	const ingress = (service.status as { loadBalancer?: { ingress?: Array<{ ip?: unknown; hostname?: unknown }> } } | undefined)?.loadBalancer?.ingress?.[0];
	if (ingress?.ip !== undefined && ingress.ip !== '') {
		if (typeof ingress.ip === 'string' && isIP(ingress.ip) !== 0) return { ip: ingress.ip };
		throw refused(service, 'ip', ingress.ip, 'an IP address');
	}
	if (ingress?.hostname !== undefined && ingress.hostname !== '') {
		if (typeof ingress.hostname === 'string' && isDnsName(ingress.hostname)) return { hostname: ingress.hostname.replace(/\.$/, '') };
		throw refused(service, 'hostname', ingress.hostname, 'a DNS name');
	}
	return undefined;
}

function refused(service: KubeObject, field: string, value: unknown, expected: string): LoadBalancerAddressError {
	const shown = typeof value === 'string' ? `"${printable(value.length > 100 ? `${value.slice(0, 97)}...` : value)}"` : `a ${typeof value}`;
	return new LoadBalancerAddressError(`${describeObject(service)}: status.loadBalancer.ingress[0].${field} is not ${expected}, got ${shown}: refused`);
}
