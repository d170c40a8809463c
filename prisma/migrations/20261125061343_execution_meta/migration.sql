-- AlterTable
ALTER TABLE "executions" ADD COLUMN     "meta" JSONB NOT NULL DEFAULT '{}';
