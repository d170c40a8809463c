-- AlterTable
ALTER TABLE "audit_chain_head" ADD COLUMN     "signed_hash" TEXT,
ADD COLUMN     "signed_seq" BIGINT NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "audit_events" ADD COLUMN     "mac" TEXT;

-- CreateIndex
-- Each row's MAC carries a nonce of its own: a row copied to the head (its link needs no key) is refused.
CREATE UNIQUE INDEX "audit_events_mac_key" ON "audit_events"("mac");

-- Issue 16: every audited write held the chain head from its lock to its COMMIT, across a round
-- trip through the application (which computed the row's HMAC from the previous hash), and the
-- run's transitions queued behind it. Now a row carries `mac`, the HMAC of its content (computed
-- by the application beforehand, without the previous hash), and the database links it in the
-- statement that writes it: hash = SHA-256 of the previous hash, the seq and the mac. The head's
-- MAC, which needs the key, covers the link last signed (signed_seq, signed_hash); a signer in the
-- application follows the head within a moment. Rows written so far keep their HMAC hashes.

-- The link the head's MAC signs so far is the head itself.
UPDATE "audit_chain_head" SET "signed_seq" = "seq", "signed_hash" = "hash" WHERE "mac" IS NOT NULL;

-- As before; the content an UPDATE must leave alone now includes `mac`.
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
            NEW."action", NEW."resource_type", NEW."resource_id", NEW."outcome", NEW."request_id", NEW."detail",
            NEW."mac")
           IS NOT DISTINCT FROM
           (OLD."id", OLD."seq", OLD."at", OLD."actor_user_id", OLD."actor_session", OLD."actor_device",
            OLD."action", OLD."resource_type", OLD."resource_id", OLD."outcome", OLD."request_id", OLD."detail",
            OLD."mac")
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

-- The head moves forward only and always carries a hash; so does its signed link, which never
-- passes the head, and carries its MAC once anything was signed. The one exception stays: rows
-- written before the chain existed are sealed once, giving the head its first hash at the same seq.
CREATE OR REPLACE FUNCTION "audit_chain_head_forward_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW."id" = OLD."id" AND NEW."hash" IS NOT NULL
     AND (NEW."seq" > OLD."seq" OR (NEW."seq" = OLD."seq" AND (OLD."hash" IS NULL OR NEW."hash" = OLD."hash")))
     AND NEW."signed_seq" >= OLD."signed_seq" AND NEW."signed_seq" <= NEW."seq"
     AND (NEW."mac" IS NOT NULL OR (NEW."signed_seq" = 0 AND OLD."mac" IS NULL))
  THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_chain_head only moves forward: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
