-- AlterTable
ALTER TABLE "devices" ADD COLUMN     "secret_hash" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "devices_secret_hash_key" ON "devices"("secret_hash");
