/** The queue delivers work only: a job names its execution, whose state lives in Postgres. */
export interface ExecutionJobData {
  executionId: string;
}

export const EXECUTION_JOB = 'execution';
export type ExecutionJobName = typeof EXECUTION_JOB;
