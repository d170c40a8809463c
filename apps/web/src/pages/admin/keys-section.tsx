import type { ApiKeyDto } from '@ccl/contracts';
import { type FormEvent, useState } from 'react';
import { Empty, LoadError, Loading } from '../../components/async-view.tsx';
import { ConfirmButton } from '../../components/confirm-button.tsx';
import { Field } from '../../components/field.tsx';
import { ShownOnce } from '../../components/shown-once.tsx';
import { useToasts } from '../../components/toasts.tsx';
import { type CreatedApiKeyDto, keys } from '../../lib/admin-api.ts';
import { formatTime } from '../../lib/format.ts';
import { useSession } from '../../lib/session.tsx';
import { useResource } from '../../lib/use-resource.ts';

const EXPIRY_DAYS = [
  { value: '7', label: 'in 7 days' },
  { value: '30', label: 'in 30 days' },
  { value: '90', label: 'in 90 days' },
  { value: '365', label: 'in a year' },
  { value: '', label: 'never' },
];

function keyStatus(k: ApiKeyDto, now: number): string {
  if (k.revoked_at) return `revoked ${formatTime(k.revoked_at)}`;
  if (k.expires_at && Date.parse(k.expires_at) <= now) return `expired ${formatTime(k.expires_at)}`;
  return k.expires_at ? `active until ${formatTime(k.expires_at)}` : 'active, no expiry';
}

export function KeysSection() {
  const { can } = useSession();
  const toasts = useToasts();
  const [all, setAll] = useState(false);
  const list = useResource(() => keys.list(all), String(all));
  const [created, setCreated] = useState<CreatedApiKeyDto | null>(null);
  const now = Date.now();

  const revoke = async (k: ApiKeyDto) => {
    try {
      const updated = await keys.revoke(k.id);
      list.setData((prev) => prev?.map((x) => (x.id === k.id ? updated : x)));
      toasts.info(`Key “${k.name}” revoked; it stops working at once.`);
    } catch (err) {
      toasts.error(`revoke the key “${k.name}”`, err);
    }
  };

  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      <p className="muted">
        A key acts as you, with the permissions you give it, from scripts and the CoderClaw adapter (
        <code>Authorization: Bearer &lt;key&gt;</code>).
      </p>
      {created ? (
        <NewKey created={created} onDone={() => setCreated(null)} />
      ) : (
        <CreateKeyForm
          onCreated={(k) => {
            setCreated(k);
            const { key: _shownOnce, ...row } = k;
            list.setData((prev) => (prev && !all ? [row, ...prev] : prev));
            if (all) list.reload();
          }}
        />
      )}
      <div className="page-head">
        <h2>{all ? 'Everyone’s keys' : 'Your keys'}</h2>
        {can('apikey:manage') && (
          <label className="inline">
            <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} />
            Show everyone’s keys
          </label>
        )}
      </div>
      {list.loading && !list.data && <Loading what="API keys" />}
      {list.error && <LoadError what="API keys" error={list.error} onRetry={list.reload} />}
      {list.data && list.data.length === 0 && <Empty>No API keys yet.</Empty>}
      {list.data && list.data.length > 0 && (
        <div className="table-wrap">
          <table data-testid="keys-table">
            <caption className="visually-hidden">API keys, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                {all && <th scope="col">Owner</th>}
                <th scope="col">Starts with</th>
                <th scope="col">Permissions</th>
                <th scope="col">Last used</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((k) => (
                <tr key={k.id} data-key-id={k.id}>
                  <td>{k.name}</td>
                  {all && <td>{k.user_id}</td>}
                  <td>
                    <code>{k.prefix}…</code>
                  </td>
                  <td>{k.permissions.length ? k.permissions.join(', ') : 'same as the owner’s role'}</td>
                  <td>{k.last_used_at ? formatTime(k.last_used_at) : 'never'}</td>
                  <td>{keyStatus(k, now)}</td>
                  <td>
                    {!k.revoked_at && (
                      <ConfirmButton label="Revoke" subject={`key ${k.name}`} onConfirm={() => revoke(k)} />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function CreateKeyForm({ onCreated }: { onCreated: (k: CreatedApiKeyDto) => void }) {
  const { me } = useSession();
  const toasts = useToasts();
  const mine = me?.permissions ?? [];
  const [chosen, setChosen] = useState<string[]>(mine);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const days = String(form.get('expires') ?? '');
    setBusy(true);
    try {
      const created = await keys.create({
        name: String(form.get('name') ?? '').trim(),
        // Always the explicit list: a key that follows the role would grow with it.
        permissions: mine.filter((p) => chosen.includes(p)),
        ...(days ? { expires_at: new Date(Date.now() + Number(days) * 86_400_000).toISOString() } : {}),
      });
      onCreated(created);
    } catch (err) {
      toasts.error('create the key', err);
      setBusy(false);
    }
  };

  const toggle = (p: string, on: boolean) =>
    setChosen((prev) => (on ? [...prev, p] : prev.filter((x) => x !== p)));

  return (
    <form className="form panel" onSubmit={submit} aria-labelledby="new-key-title">
      <h2 id="new-key-title">New key</h2>
      <Field label="Name" hint="What uses it, e.g. “ci-bot” or “laptop CoderClaw”.">
        <input name="name" required maxLength={100} />
      </Field>
      <fieldset className="checks">
        <legend>Permissions (only yours can be given)</legend>
        {mine.map((p) => (
          <label key={p} className="inline">
            <input
              type="checkbox"
              checked={chosen.includes(p)}
              onChange={(e) => toggle(p, e.target.checked)}
            />
            <code>{p}</code>
          </label>
        ))}
      </fieldset>
      <Field label="Expires">
        <select name="expires" defaultValue="90">
          {EXPIRY_DAYS.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      </Field>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy || chosen.length === 0}>
          {busy ? 'Creating…' : 'Create key'}
        </button>
        {chosen.length === 0 && <span className="error-text">Choose at least one permission.</span>}
      </div>
    </form>
  );
}

/** The only time the key exists outside its owner's hands: copy it, then it is gone from the page. */
function NewKey({ created, onDone }: { created: CreatedApiKeyDto; onDone: () => void }) {
  return (
    <ShownOnce
      testId="new-key"
      title={<>Key “{created.name}” created</>}
      warning="Copy the key now. This is the only time it is shown: the server keeps only a hash of it. If you lose it, revoke it and create another."
      value={created.key}
      valueLabel="The new API key"
      noun="key"
      doneLabel="I have stored it"
      onDone={onDone}
    />
  );
}
