-- AlterTable
ALTER TABLE "projects" ADD COLUMN     "last_queue_rank" INTEGER NOT NULL DEFAULT 0;

-- CreateIndex
CREATE INDEX "executions_state_queue_rank_idx" ON "executions"("state", "queue_rank");
