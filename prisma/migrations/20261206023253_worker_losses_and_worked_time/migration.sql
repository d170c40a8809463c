-- AlterTable
ALTER TABLE "executions" ADD COLUMN     "picked_up_at" TIMESTAMP(3),
ADD COLUMN     "worked_ms" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "worker_losses" INTEGER NOT NULL DEFAULT 0;
