-- AlterTable
ALTER TABLE "executions" ADD COLUMN     "checkpoint" JSONB,
ADD COLUMN     "held_reason" TEXT,
ADD COLUMN     "queue_rank" INTEGER;
