import type { CoreDeps } from './deps.ts';
import { NotFound } from './errors.ts';

/** A card's or execution's number as people write it (`42` for `#42`); anything else is taken as an id. */
const NUMBER = /^[1-9][0-9]{0,9}$/;
/** The numbers are Postgres `integer`s: a larger one names nothing (and must not reach the query). */
const MAX_NUMBER = 2_147_483_647;

function numberOf(ref: string): number | null {
  if (!NUMBER.test(ref)) return null;
  const n = Number(ref);
  return n <= MAX_NUMBER ? n : 0;
}

/**
 * "uuid or positive integer" → the task's uuid. A number that names no task answers the same 404 as an
 * unknown id. Reach is not checked here: the use case checks it on the uuid, naming `ref` in its 404,
 * so a number tells no more than an id would.
 */
export async function taskIdOf(deps: Pick<CoreDeps, 'prisma'>, ref: string): Promise<string> {
  const number = numberOf(ref);
  if (number === null) return ref;
  const task = number ? await deps.prisma.task.findUnique({ where: { number }, select: { id: true } }) : null;
  if (!task) throw new NotFound(`task ${ref} not found`);
  return task.id;
}

/** "uuid or positive integer" → the execution's uuid; as taskIdOf. */
export async function executionIdOf(deps: Pick<CoreDeps, 'prisma'>, ref: string): Promise<string> {
  const number = numberOf(ref);
  if (number === null) return ref;
  const execution = number
    ? await deps.prisma.execution.findUnique({ where: { number }, select: { id: true } })
    : null;
  if (!execution) throw new NotFound(`execution ${ref} not found`);
  return execution.id;
}
