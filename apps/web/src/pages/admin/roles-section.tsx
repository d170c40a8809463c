import { type FormEvent, useState } from 'react';
import { Field } from '../../components/field.tsx';
import { useToasts } from '../../components/toasts.tsx';
import { type RoleDto, users } from '../../lib/admin-api.ts';

export function RolesTable({ roles }: { roles: RoleDto[] }) {
  return (
    <>
      <h2>Roles</h2>
      <div className="table-wrap">
        <table data-testid="roles-table">
          <caption className="visually-hidden">Roles and their permissions</caption>
          <thead>
            <tr>
              <th scope="col">Role</th>
              <th scope="col">Permissions</th>
              <th scope="col">Users</th>
            </tr>
          </thead>
          <tbody>
            {roles.map((r) => (
              <tr key={r.name}>
                <td>
                  <strong>{r.name}</strong>
                  {r.builtin && <span className="muted"> (built in)</span>}
                  {r.description && <div className="muted">{r.description}</div>}
                </td>
                <td>{r.permissions.join(', ') || '—'}</td>
                <td>{r.users}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

/** Custom roles: built-in ones are fixed, so the form only offers the others to edit. */
export function RoleForm({ roles, onSaved }: { roles: RoleDto[]; onSaved: (r: RoleDto) => void }) {
  const toasts = useToasts();
  const known = [...new Set(roles.flatMap((r) => r.permissions))].sort();
  const custom = roles.filter((r) => !r.builtin);
  const [name, setName] = useState('');
  const existing = custom.find((r) => r.name === name);
  const [chosen, setChosen] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const pick = (n: string) => {
    setName(n);
    const r = custom.find((x) => x.name === n);
    if (r) setChosen(r.permissions);
  };
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const description = String(new FormData(e.currentTarget).get('description') ?? '');
    setBusy(true);
    try {
      const r = await users.putRole(name.trim(), { description, permissions: chosen });
      onSaved(r);
      toasts.info(`Role ${r.name} saved.`);
    } catch (err) {
      toasts.error(`save the role ${name}`, err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="form panel" onSubmit={submit} aria-labelledby="role-form-title">
      <h2 id="role-form-title">Create or edit a custom role</h2>
      <Field label="Role name" hint="A new name creates a role; a custom role’s name edits it.">
        <input
          name="role_name"
          list="custom-roles"
          value={name}
          onChange={(e) => pick(e.target.value.toUpperCase())}
          required
          maxLength={40}
        />
      </Field>
      <datalist id="custom-roles">
        {custom.map((r) => (
          <option key={r.name} value={r.name} />
        ))}
      </datalist>
      <Field label="Description" optional>
        <input name="description" key={existing?.name ?? ''} defaultValue={existing?.description ?? ''} />
      </Field>
      <fieldset className="checks">
        <legend>Permissions</legend>
        {known.map((p) => (
          <label key={p} className="inline">
            <input
              type="checkbox"
              checked={chosen.includes(p)}
              onChange={(e) =>
                setChosen((prev) => (e.target.checked ? [...prev, p] : prev.filter((x) => x !== p)))
              }
            />
            <code>{p}</code>
          </label>
        ))}
      </fieldset>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy || !name.trim()}>
          {existing ? 'Save role' : 'Create role'}
        </button>
      </div>
    </form>
  );
}
