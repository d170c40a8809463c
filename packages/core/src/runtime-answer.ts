import type { RuntimeExecutionDto } from '@ccl/contracts';
import type { Execution } from '@ccl/db';
import type { CoreDeps } from './deps.ts';
import type { ChangeMark } from './read-cache.ts';

/**
 * The answer of CoderClaw 2026.3's execution poll (docs/coderclaw.md), made from a run's row: by the
 * poll's own read (runtime-executions.ts) and by a submit, which keeps it for the polls to come.
 */

/** Where the run's context keeps the `sessionId` CoderClaw sent (its own id, not one of our sessions). */
export const SESSION_KEY = 'coderclaw_session_id';

export type Numbered = Execution & { task: { id: string; number: number; project: { number: number } } };

export const numbered = {
  task: { select: { id: true, number: true, project: { select: { number: true } } } },
} as const;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The adapter keeps `result` as the task's output: text as it is, anything else as JSON text. */
function resultText(result: unknown): string | null {
  if (result === null || result === undefined) return null;
  return typeof result === 'string' ? result : JSON.stringify(result);
}

/** What an answer is made of: the run's own columns, CoderClaw's session id, its card's and project's numbers. */
export type AnswerFields = Pick<
  Execution,
  | 'number'
  | 'clawId'
  | 'userId'
  | 'state'
  | 'prompt'
  | 'result'
  | 'error'
  | 'startedAt'
  | 'finishedAt'
  | 'createdAt'
  | 'updatedAt'
> & { coderclawSession: string | null; taskNumber: number; projectNumber: number };

export function toRuntimeExecution(e: Numbered): RuntimeExecutionDto {
  const session = (e.context as Record<string, unknown> | null)?.[SESSION_KEY];
  return answerOf({
    ...e,
    coderclawSession: typeof session === 'string' ? session : null,
    taskNumber: e.task.number,
    projectNumber: e.task.project.number,
  });
}

export function answerOf(e: AnswerFields): RuntimeExecutionDto {
  return {
    id: e.number,
    taskId: e.taskNumber,
    agentId: null,
    clawId: e.clawId,
    tenantId: e.projectNumber,
    submittedBy: e.userId,
    sessionId: e.coderclawSession,
    status: e.state.toLowerCase() as RuntimeExecutionDto['status'],
    payload: e.prompt,
    result: resultText(e.result),
    errorMessage: e.error,
    startedAt: iso(e.startedAt),
    completedAt: iso(e.finishedAt),
    createdAt: e.createdAt.toISOString(),
    updatedAt: e.updatedAt.toISOString(),
  };
}

/**
 * A run this process has just written and queued (PENDING, event seq 0): its poll answer, kept in
 * this process's read cache so that the first polls of its adapter read nothing. `mark`: taken
 * before the write (ReadCache.changeMark).
 */
export function primeRuntimePoll(
  deps: Pick<CoreDeps, 'cache'>,
  mark: ChangeMark | undefined,
  written: Numbered,
): void {
  if (!deps.cache || !mark) return;
  deps.cache.primeRuntimeExecution(
    written.number,
    { executionId: written.id, taskUuid: written.task.id, answer: toRuntimeExecution(written), seq: 0 },
    mark,
  );
}
