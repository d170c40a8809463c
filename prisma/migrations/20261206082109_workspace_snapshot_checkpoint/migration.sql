-- AlterTable
ALTER TABLE "workspace_snapshots" ADD COLUMN     "checkpoint" JSONB;
