-- AlterTable
ALTER TABLE "executions" ADD COLUMN     "github" JSONB;

-- AlterTable
ALTER TABLE "users" ADD COLUMN     "github_login" TEXT;

-- CreateTable
CREATE TABLE "pull_requests" (
    "id" UUID NOT NULL,
    "project_id" UUID NOT NULL,
    "task_id" UUID NOT NULL,
    "execution_id" UUID NOT NULL,
    "repo" TEXT NOT NULL,
    "number" INTEGER NOT NULL,
    "url" TEXT NOT NULL,
    "branch" TEXT NOT NULL,
    "base" TEXT NOT NULL,
    "state" TEXT NOT NULL DEFAULT 'open',
    "ci_fixes" INTEGER NOT NULL DEFAULT 0,
    "created_by" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "merged_at" TIMESTAMP(3),
    "closed_at" TIMESTAMP(3),

    CONSTRAINT "pull_requests_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "github_deliveries" (
    "id" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "received_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "processed_at" TIMESTAMP(3),
    "outcome" TEXT,

    CONSTRAINT "github_deliveries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "pull_requests_execution_id_key" ON "pull_requests"("execution_id");

-- CreateIndex
CREATE INDEX "pull_requests_task_id_idx" ON "pull_requests"("task_id");

-- CreateIndex
CREATE INDEX "pull_requests_project_id_idx" ON "pull_requests"("project_id");

-- CreateIndex
CREATE UNIQUE INDEX "pull_requests_repo_number_key" ON "pull_requests"("repo", "number");

-- CreateIndex
CREATE INDEX "github_deliveries_processed_at_idx" ON "github_deliveries"("processed_at");

-- CreateIndex
CREATE UNIQUE INDEX "users_github_login_key" ON "users"("github_login");
