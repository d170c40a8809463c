#!/usr/bin/env bash
# The container check, for machines with Docker (the development machines have none):
# builds the image, starts the compose stack (PostgreSQL, Redis, api, worker), submits an
# echo task through the API as CoderClaw would, waits for COMPLETED, then removes the stack.
#
#   bash scripts/container-smoke.sh            # KEEP=1 leaves the stack running afterwards
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=${COMPOSE_PROJECT:-clawlink-smoke}
compose() { docker compose -p "$PROJECT" "$@"; }
say() { printf '[smoke %s] %s\n' "$(date +%T)" "$*"; }

cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    say "FAILED; last api and worker logs:"
    compose logs --no-color --tail 80 api worker || true
  fi
  if [ "${KEEP:-0}" != 1 ]; then compose down -v --remove-orphans >/dev/null 2>&1 || true; fi
  exit "$status"
}
trap cleanup EXIT

command -v docker >/dev/null || { echo "docker is not installed" >&2; exit 2; }
docker info >/dev/null 2>&1 || { echo "no Docker engine answers (docker info failed)" >&2; exit 2; }

say "building the image"
compose build --quiet
say "starting PostgreSQL, Redis, api and worker"
# A fresh stack each time, so the first administrator's token is printed again.
compose down -v --remove-orphans >/dev/null 2>&1 || true
compose up -d --wait --wait-timeout 180

# The API is called from inside the api container with its own Node.js: the host needs
# nothing but Docker, and the request goes through the real HTTP server and auth.
token=$(compose logs --no-color api | sed -n 's/.*token: \(ccl_[A-Za-z0-9_-]*\).*/\1/p' | head -n 1)
[ -n "$token" ] || { echo "no administrator token in the api's log" >&2; exit 1; }

say "submitting an echo task and waiting for COMPLETED"
compose exec -T -e TOKEN="$token" api node --input-type=module -e '
const base = "http://127.0.0.1:8000";
const headers = { "Content-Type": "application/json", Accept: "application/json", Authorization: `Bearer ${process.env.TOKEN}` };
async function call(method, path, body) {
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}
const session = await call("POST", "/api/runtime/sessions");
const task = await call("POST", "/api/runtime/tasks/submit", {
  agent_type: "echo", prompt: "container smoke", context: { description: "container smoke", echo: { steps: 2, delay_ms: 50 } },
  session_id: session.session_id,
});
const seen = [];
for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 500))) {
  const state = await call("GET", `/api/runtime/tasks/${task.task_id}/state`);
  if (seen.at(-1) !== state.state) seen.push(state.state);
  if (state.state === "completed") { console.log(`task ${task.task_id}: ${seen.join(" → ")}`); process.exit(0); }
  if (state.state === "failed" || state.state === "cancelled") throw new Error(`task ended ${state.state}: ${state.error}`);
}
throw new Error(`task not completed within 60 s; states seen: ${seen.join(" → ")}`);
'
say "PASSED"
