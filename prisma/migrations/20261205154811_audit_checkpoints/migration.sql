-- Issue 17, item 11: the chain could be reset with plain writes. `ccl.audit_retention` is a setting
-- any session may set, so it alone no longer lets rows go; the chain head could be moved back or
-- cleared. Now a retention run first writes a checkpoint signed with the audit key (the `mac`
-- below, which SQL cannot compute), rows are deleted only under such a checkpoint, and the head
-- only moves forward. Whoever forges a checkpoint to get rows deleted leaves a record that
-- `clawlink audit verify` reports as unsigned.

-- AlterTable
ALTER TABLE "audit_retentions" ADD COLUMN     "mac" TEXT;

-- A checkpoint carries its signature from the start (records never change afterwards).
CREATE FUNCTION "audit_retentions_signed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."mac" IS NULL OR NEW."last_seq" < NEW."first_seq" THEN
    RAISE EXCEPTION 'audit_retentions: a retention record must be signed with the audit key (clawlink audit prune writes them)'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER "audit_retentions_signed" BEFORE INSERT ON "audit_retentions"
  FOR EACH ROW EXECUTE FUNCTION "audit_retentions_signed"();

-- As before, plus: a DELETE needs a signed retention record covering the row, written earlier in
-- the same run.
CREATE OR REPLACE FUNCTION "audit_events_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
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
    IF current_setting('ccl.audit_retention', true) = 'on' AND EXISTS (
         SELECT 1 FROM "audit_retentions" AS r
         WHERE OLD."seq" BETWEEN r."first_seq" AND r."last_seq" AND r."mac" IS NOT NULL)
    THEN
      RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: DELETE refused outside a retention run (clawlink audit prune)'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

-- The head moves forward only, and always carries a hash and its MAC. The one exception: rows
-- written before the chain existed are sealed once, which gives the head its first hash at the
-- same seq. The row itself is made by the migration that created the table; no other is inserted.
CREATE FUNCTION "audit_chain_head_forward_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW."id" = OLD."id" AND NEW."hash" IS NOT NULL AND NEW."mac" IS NOT NULL
     AND (NEW."seq" > OLD."seq" OR (NEW."seq" = OLD."seq" AND OLD."hash" IS NULL))
  THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_chain_head only moves forward: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER "audit_chain_head_forward_only" BEFORE INSERT OR UPDATE ON "audit_chain_head"
  FOR EACH ROW EXECUTE FUNCTION "audit_chain_head_forward_only"();
