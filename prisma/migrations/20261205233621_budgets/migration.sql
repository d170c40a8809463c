-- AlterTable
ALTER TABLE "users" ADD COLUMN     "budget_usd_month" DOUBLE PRECISION;

-- CreateTable
CREATE TABLE "budget_notices" (
    "project_id" UUID NOT NULL,
    "month" TEXT NOT NULL,
    "percent" INTEGER NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "budget_notices_pkey" PRIMARY KEY ("project_id","month","percent")
);

-- CreateIndex
CREATE INDEX "executions_user_id_created_at_idx" ON "executions"("user_id", "created_at");

-- AddForeignKey
ALTER TABLE "budget_notices" ADD CONSTRAINT "budget_notices_project_id_fkey" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
