-- CreateTable
CREATE TABLE "telegram_links" (
    "telegram_user_id" BIGINT NOT NULL,
    "user_id" TEXT NOT NULL,
    "username" TEXT,
    "linked_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "telegram_links_pkey" PRIMARY KEY ("telegram_user_id")
);

-- CreateTable
CREATE TABLE "telegram_link_codes" (
    "code_hash" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "used_at" TIMESTAMP(3),

    CONSTRAINT "telegram_link_codes_pkey" PRIMARY KEY ("code_hash")
);

-- CreateTable
CREATE TABLE "telegram_chats" (
    "chat_id" BIGINT NOT NULL,
    "project_slug" TEXT,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "telegram_chats_pkey" PRIMARY KEY ("chat_id")
);

-- CreateTable
CREATE TABLE "telegram_follows" (
    "id" UUID NOT NULL,
    "chat_id" BIGINT NOT NULL,
    "user_id" TEXT NOT NULL,
    "task_id" UUID,
    "project_id" UUID,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "telegram_follows_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "telegram_task_messages" (
    "chat_id" BIGINT NOT NULL,
    "task_id" UUID NOT NULL,
    "message_id" INTEGER NOT NULL,
    "text" TEXT NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "telegram_task_messages_pkey" PRIMARY KEY ("chat_id","task_id")
);

-- CreateTable
CREATE TABLE "telegram_approvals" (
    "id" TEXT NOT NULL,
    "execution_id" UUID NOT NULL,
    "request_hash" TEXT NOT NULL,
    "chat_id" BIGINT NOT NULL,
    "message_id" INTEGER,
    "text" TEXT NOT NULL DEFAULT '',
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "decided_at" TIMESTAMP(3),
    "decided_by" TEXT,
    "decision" TEXT,

    CONSTRAINT "telegram_approvals_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "telegram_updates" (
    "update_id" BIGINT NOT NULL,
    "payload" JSONB NOT NULL,
    "received_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "processed_at" TIMESTAMP(3),

    CONSTRAINT "telegram_updates_pkey" PRIMARY KEY ("update_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "telegram_links_user_id_key" ON "telegram_links"("user_id");

-- CreateIndex
CREATE INDEX "telegram_link_codes_user_id_idx" ON "telegram_link_codes"("user_id");

-- CreateIndex
CREATE INDEX "telegram_follows_task_id_idx" ON "telegram_follows"("task_id");

-- CreateIndex
CREATE INDEX "telegram_follows_project_id_idx" ON "telegram_follows"("project_id");

-- CreateIndex
CREATE UNIQUE INDEX "telegram_follows_chat_id_task_id_key" ON "telegram_follows"("chat_id", "task_id");

-- CreateIndex
CREATE UNIQUE INDEX "telegram_follows_chat_id_project_id_key" ON "telegram_follows"("chat_id", "project_id");

-- CreateIndex
CREATE INDEX "telegram_approvals_chat_id_message_id_idx" ON "telegram_approvals"("chat_id", "message_id");

-- CreateIndex
CREATE UNIQUE INDEX "telegram_approvals_execution_id_request_hash_chat_id_key" ON "telegram_approvals"("execution_id", "request_hash", "chat_id");

-- CreateIndex
CREATE INDEX "telegram_updates_processed_at_idx" ON "telegram_updates"("processed_at");

-- AddForeignKey
ALTER TABLE "telegram_links" ADD CONSTRAINT "telegram_links_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "telegram_link_codes" ADD CONSTRAINT "telegram_link_codes_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
