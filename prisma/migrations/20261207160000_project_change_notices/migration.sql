-- Issue 16: every submit read its project (settings, secret names, members) in a statement of its
-- own. API processes now keep that read per project (packages/core/src/project-cache.ts) and drop
-- it when the database says a project, its members or its secrets changed: these triggers send the
-- notice (channel ccl_projects, empty payload) with the change's commit, whoever made it (the API,
-- the CLI, a hand-written UPDATE). A project's counters (number, last_queue_rank) change on every
-- submit and send nothing.
CREATE FUNCTION "ccl_projects_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('ccl_projects', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER "projects_changed" AFTER UPDATE OF "slug", "settings" OR DELETE ON "projects"
  FOR EACH STATEMENT EXECUTE FUNCTION "ccl_projects_changed"();
CREATE TRIGGER "projects_truncated" AFTER TRUNCATE ON "projects"
  FOR EACH STATEMENT EXECUTE FUNCTION "ccl_projects_changed"();
CREATE TRIGGER "project_members_changed" AFTER INSERT OR UPDATE OR DELETE ON "project_members"
  FOR EACH STATEMENT EXECUTE FUNCTION "ccl_projects_changed"();
CREATE TRIGGER "project_members_truncated" AFTER TRUNCATE ON "project_members"
  FOR EACH STATEMENT EXECUTE FUNCTION "ccl_projects_changed"();
CREATE TRIGGER "project_secrets_changed" AFTER INSERT OR UPDATE OR DELETE ON "project_secrets"
  FOR EACH STATEMENT EXECUTE FUNCTION "ccl_projects_changed"();
CREATE TRIGGER "project_secrets_truncated" AFTER TRUNCATE ON "project_secrets"
  FOR EACH STATEMENT EXECUTE FUNCTION "ccl_projects_changed"();
