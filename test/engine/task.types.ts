/**
 * Type tests, checked by `tsc --noEmit` in `npm test` (never run): the output types flow through
 * `needs`, and using an output as the wrong type does not compile. Each `@ts-expect-error` fails
 * the build if the line below it stops being an error.
 */
import { task, withUndo, type Task } from '../../lib/index.ts';

const nfsServiceIp = task({ name: 'nfsServiceIp', run: async () => '10.0.0.12' });
const replicas = task({ name: 'replicas', run: () => 3 });
const group = task({ name: 'group', needs: { nfsServiceIp } });

// Outputs are typed from `run`, awaited; a group's output is null.
export const ipTask: Task<string> = nfsServiceIp;
export const countTask: Task<number> = replicas;
export const groupTask: Task<null> = group;

export const fileserver = task({
	name: 'fileserver',
	needs: { ip: nfsServiceIp, replicas },
	run: ({ ip, replicas }) => {
		const address: string = ip;
		const count: number = replicas;
		// @ts-expect-error: the NFS IP is a string, not a number
		const wrong: number = ip;
		// @ts-expect-error: numbers have no toUpperCase
		replicas.toUpperCase();
		return { address, count, wrong };
	},
});

export const keepalive = task({
	name: 'keepalive',
	needs: { server: fileserver },
	run: ({ server }) => {
		const address: string = server.address;
		const count: number = server.count;
		// @ts-expect-error: the output object has no such field
		return server.port + address + count;
	},
});

export const extraKey = task({
	name: 'extraKey',
	needs: { ip: nfsServiceIp },
	// @ts-expect-error: only the keys named in `needs` are inputs
	run: ({ ip, port }) => ip + port,
});

export const wrongInput = task({
	name: 'wrongInput',
	needs: { ip: nfsServiceIp },
	// @ts-expect-error: declaring the input with the wrong type does not compile
	run: ({ ip }: { ip: number }) => ip + 1,
});

// @ts-expect-error: needs must be tasks, not values
export const notATask = task({ name: 'notATask', needs: { ip: '10.0.0.1' }, run: () => 1 });

export const context = task({
	name: 'context',
	run: (_inputs, context) => {
		const signal: AbortSignal = context.signal;
		context.log.info(`typed logger, aborted: ${signal.aborted}`);
		// @ts-expect-error: the context has no shared bag of values
		return context.values.ip as string;
	},
});

// An undo is typed by its task's output: `previous` is what the task returned.
export const undone = withUndo(fileserver, {
	run: previous => {
		const address: string = previous.address;
		// @ts-expect-error: the output has no such field
		previous.port.toString();
		return void address;
	},
	describe: previous => ({ steps: [`stop ${previous.address}`], objects: previous.count }),
});
// @ts-expect-error: an undo for a number given to a task that returns a string
withUndo(nfsServiceIp, { run: (previous: number) => void previous.toFixed() });
