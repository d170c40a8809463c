-- Hash chain over audit rows. Rows written before this migration get their chain position here
-- (in id order) and their hash from the application on its next audit write: the HMAC key is never
-- in the database, so SQL cannot compute it.

-- AlterTable
ALTER TABLE "audit_events" ADD COLUMN     "hash" TEXT,
ADD COLUMN     "seq" BIGINT;

UPDATE "audit_events" AS a SET "seq" = n.seq
FROM (SELECT "id", row_number() OVER (ORDER BY "id") AS seq FROM "audit_events") AS n
WHERE a."id" = n."id";

ALTER TABLE "audit_events" ALTER COLUMN "seq" SET NOT NULL;

-- CreateTable
CREATE TABLE "audit_chain_head" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "seq" BIGINT NOT NULL DEFAULT 0,
    "hash" TEXT,
    "mac" TEXT,

    CONSTRAINT "audit_chain_head_pkey" PRIMARY KEY ("id")
);

INSERT INTO "audit_chain_head" ("id", "seq") SELECT 1, coalesce(max("seq"), 0) FROM "audit_events";

-- CreateTable
CREATE TABLE "audit_retentions" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actor_user_id" TEXT NOT NULL,
    "before" TIMESTAMP(3) NOT NULL,
    "removed" INTEGER NOT NULL,
    "first_seq" BIGINT NOT NULL,
    "last_seq" BIGINT NOT NULL,
    "anchor_hash" TEXT NOT NULL,
    "archive" TEXT NOT NULL,
    "archive_sha256" TEXT NOT NULL,

    CONSTRAINT "audit_retentions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "audit_retentions_last_seq_key" ON "audit_retentions"("last_seq");

-- CreateIndex
CREATE UNIQUE INDEX "audit_events_seq_key" ON "audit_events"("seq");

-- Append-only at the database level. New rows must carry their hash. The only UPDATE allowed sets
-- the hash of a row written before the chain existed, once, changing nothing else. DELETE is allowed
-- only inside a retention run, which sets `SET LOCAL ccl.audit_retention = 'on'` in its transaction.
CREATE FUNCTION "audit_events_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW."hash" IS NULL THEN
      RAISE EXCEPTION 'audit_events: a new row must carry its chain hash' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD."hash" IS NULL AND NEW."hash" IS NOT NULL
       AND (NEW."id", NEW."seq", NEW."at", NEW."actor_user_id", NEW."actor_session", NEW."actor_device",
            NEW."action", NEW."resource_type", NEW."resource_id", NEW."outcome", NEW."request_id", NEW."detail")
           IS NOT DISTINCT FROM
           (OLD."id", OLD."seq", OLD."at", OLD."actor_user_id", OLD."actor_session", OLD."actor_device",
            OLD."action", OLD."resource_type", OLD."resource_id", OLD."outcome", OLD."request_id", OLD."detail")
    THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: UPDATE refused' USING ERRCODE = 'insufficient_privilege';
  ELSIF TG_OP = 'DELETE' THEN
    IF current_setting('ccl.audit_retention', true) = 'on' THEN
      RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: DELETE refused outside a retention run (clawlink audit prune)'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER "audit_events_append_only" BEFORE INSERT OR UPDATE OR DELETE ON "audit_events"
  FOR EACH ROW EXECUTE FUNCTION "audit_events_append_only"();
CREATE TRIGGER "audit_events_no_truncate" BEFORE TRUNCATE ON "audit_events"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_events_append_only"();

-- Retention records and the chain head are never deleted; retention records never change.
CREATE FUNCTION "audit_refuse_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '%: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER "audit_retentions_append_only" BEFORE UPDATE OR DELETE ON "audit_retentions"
  FOR EACH ROW EXECUTE FUNCTION "audit_refuse_change"();
CREATE TRIGGER "audit_retentions_no_truncate" BEFORE TRUNCATE ON "audit_retentions"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_refuse_change"();
CREATE TRIGGER "audit_chain_head_keep" BEFORE DELETE ON "audit_chain_head"
  FOR EACH ROW EXECUTE FUNCTION "audit_refuse_change"();
CREATE TRIGGER "audit_chain_head_no_truncate" BEFORE TRUNCATE ON "audit_chain_head"
  FOR EACH STATEMENT EXECUTE FUNCTION "audit_refuse_change"();
