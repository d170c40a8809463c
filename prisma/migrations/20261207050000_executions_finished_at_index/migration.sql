-- CreateIndex
-- Issue 16: /metrics summed every run ever at each scrape (executions by state, tokens and cost).
-- A finished run never changes, so the totals are now kept by each API process and a scrape adds
-- only the runs that ended since the last one, found on this index (apps/server/src/metrics-totals.ts).
CREATE INDEX "executions_finished_at_idx" ON "executions"("finished_at");
