-- CreateEnum
CREATE TYPE "TaskPriority" AS ENUM ('low', 'medium', 'high', 'urgent');

-- AlterTable
ALTER TABLE "executions" ADD COLUMN     "claw_id" INTEGER,
ADD COLUMN     "number" SERIAL NOT NULL;

-- AlterTable
ALTER TABLE "projects" ADD COLUMN     "number" SERIAL NOT NULL;

-- AlterTable
ALTER TABLE "tasks" ADD COLUMN     "agent_type" TEXT,
ADD COLUMN     "context" JSONB,
ADD COLUMN     "number" SERIAL NOT NULL,
ADD COLUMN     "priority" "TaskPriority" NOT NULL DEFAULT 'medium';

-- Existing rows are numbered in the order they were created.
UPDATE "projects" SET "number" = o.n FROM (SELECT "id", row_number() OVER (ORDER BY "created_at", "id") AS n FROM "projects") o WHERE "projects"."id" = o."id";
UPDATE "tasks" SET "number" = o.n FROM (SELECT "id", row_number() OVER (ORDER BY "created_at", "id") AS n FROM "tasks") o WHERE "tasks"."id" = o."id";
UPDATE "executions" SET "number" = o.n FROM (SELECT "id", row_number() OVER (ORDER BY "created_at", "id") AS n FROM "executions") o WHERE "executions"."id" = o."id";

-- CreateIndex
CREATE UNIQUE INDEX "executions_number_key" ON "executions"("number");

-- CreateIndex
CREATE UNIQUE INDEX "projects_number_key" ON "projects"("number");

-- CreateIndex
CREATE UNIQUE INDEX "tasks_number_key" ON "tasks"("number");
