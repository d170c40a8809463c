import { type FormEvent, useState } from 'react';
import { LoadError, Loading } from '../../components/async-view.tsx';
import { BUDGET_WARN_AT, budgetPercent, dollars } from '../../components/budget-line.tsx';
import { Field } from '../../components/field.tsx';
import { useToasts } from '../../components/toasts.tsx';
import { type RoleDto, type UserAccountDto, users } from '../../lib/admin-api.ts';
import { formatTime } from '../../lib/format.ts';
import { useSession } from '../../lib/session.tsx';
import { useResource } from '../../lib/use-resource.ts';
import { RoleForm, RolesTable } from './roles-section.tsx';

export function UsersSection() {
  const { can } = useSession();
  const data = useResource(async () => {
    const [list, roles] = await Promise.all([users.list(), users.roles()]);
    return { list, roles };
  });
  if (!can('user:manage')) {
    return (
      <section aria-labelledby="users-title">
        <h1 id="users-title">Users and roles</h1>
        <p role="alert">
          Managing users needs the <code>user:manage</code> permission. Ask an administrator for it.
        </p>
      </section>
    );
  }
  const setUser = (u: UserAccountDto) =>
    data.setData(
      (prev) =>
        prev && {
          ...prev,
          list: prev.list.some((x) => x.id === u.id)
            ? prev.list.map((x) => (x.id === u.id ? u : x))
            : [...prev.list, u],
        },
    );
  const setRole = (r: RoleDto) =>
    data.setData((prev) => prev && { ...prev, roles: [...prev.roles.filter((x) => x.name !== r.name), r] });
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users and roles</h1>
      {data.loading && !data.data && <Loading what="users" />}
      {data.error && <LoadError what="users" error={data.error} onRetry={data.reload} />}
      {data.data && (
        <>
          <UsersTable list={data.data.list} roles={data.data.roles} onChanged={setUser} />
          <NewUserForm roles={data.data.roles} onCreated={setUser} />
          <RolesTable roles={data.data.roles} />
          <RoleForm roles={data.data.roles} onSaved={setRole} />
        </>
      )}
    </section>
  );
}

function UsersTable(props: {
  list: UserAccountDto[];
  roles: RoleDto[];
  onChanged: (u: UserAccountDto) => void;
}) {
  const { me } = useSession();
  const toasts = useToasts();
  const [busy, setBusy] = useState<string | null>(null);
  const update = async (u: UserAccountDto, body: Parameters<typeof users.update>[1], what: string) => {
    setBusy(u.id);
    try {
      props.onChanged(await users.update(u.id, body));
      toasts.info(`${u.id}: ${what}.`);
    } catch (err) {
      toasts.error(`change ${u.id}`, err);
    } finally {
      setBusy(null);
    }
  };
  return (
    <div className="table-wrap">
      <table data-testid="users-table">
        <caption className="visually-hidden">Users</caption>
        <thead>
          <tr>
            <th scope="col">User</th>
            <th scope="col">Role</th>
            <th scope="col">Sign-in</th>
            <th scope="col">GitHub</th>
            <th scope="col">Monthly budget</th>
            <th scope="col">Since</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {props.list.map((u) => (
            <tr key={u.id} data-user={u.id}>
              <td>
                <code>{u.id}</code>
                {u.name && <span className="muted"> {u.name}</span>}
                {u.id === me?.user_id && <strong> (you)</strong>}
              </td>
              <td>
                <select
                  aria-label={`Role of ${u.id}`}
                  value={u.role}
                  disabled={busy === u.id}
                  onChange={(e) => void update(u, { role: e.target.value }, `role is now ${e.target.value}`)}
                >
                  {props.roles.map((r) => (
                    <option key={r.name}>{r.name}</option>
                  ))}
                </select>
              </td>
              <td>{u.disabled ? 'disabled' : u.has_password ? 'password set' : 'no password'}</td>
              <td>
                <GithubLogin
                  key={u.github_login ?? ''}
                  user={u}
                  busy={busy === u.id}
                  onSave={(login) =>
                    update(
                      u,
                      { github_login: login },
                      login ? `GitHub login is now ${login.toLowerCase()}` : 'GitHub login removed',
                    )
                  }
                />
              </td>
              <td>
                <UserBudget
                  key={String(u.budget_usd_month)}
                  user={u}
                  busy={busy === u.id}
                  onSave={(budget) =>
                    update(
                      u,
                      { budget_usd_month: budget },
                      budget === null
                        ? 'monthly budget removed'
                        : `monthly budget is now ${budgetText(budget)}`,
                    )
                  }
                />
              </td>
              <td>{formatTime(u.created_at)}</td>
              <td>
                <div className="actions">
                  <button
                    type="button"
                    className={u.disabled ? undefined : 'danger'}
                    disabled={busy === u.id}
                    aria-label={`${u.disabled ? 'Enable' : 'Disable'} ${u.id}`}
                    onClick={() =>
                      void update(
                        u,
                        { disabled: !u.disabled },
                        u.disabled ? 'enabled' : 'disabled, sessions ended',
                      )
                    }
                  >
                    {u.disabled ? 'Enable' : 'Disable'}
                  </button>
                  <SetPassword user={u} onSet={(password) => update(u, { password }, 'password set')} />
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** GitHub logins: 1-39 letters, digits and single hyphens, none at either end. */
const GITHUB_LOGIN = '[A-Za-z0-9]+(-[A-Za-z0-9]+)*';

/** The GitHub account whose `/clawlink` comments act as this user; saved empty, it is unlinked. */
function GithubLogin(props: {
  user: UserAccountDto;
  busy: boolean;
  onSave: (login: string | null) => Promise<void>;
}) {
  const { user } = props;
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const login = String(new FormData(e.currentTarget).get('github_login') ?? '').trim();
    await props.onSave(login || null);
  };
  return (
    <form className="actions github-login" onSubmit={submit}>
      <input
        name="github_login"
        defaultValue={user.github_login ?? ''}
        placeholder="not linked"
        aria-label={`GitHub login of ${user.id}`}
        maxLength={39}
        pattern={GITHUB_LOGIN}
        title="a GitHub login: letters, digits and single hyphens, at most 39"
        spellCheck={false}
        autoCapitalize="none"
        autoComplete="off"
      />
      <button type="submit" disabled={props.busy} aria-label={`Save GitHub login of ${user.id}`}>
        Save
      </button>
      {user.github_login && (
        <button
          type="button"
          disabled={props.busy}
          aria-label={`Unlink GitHub login of ${user.id}`}
          onClick={() => void props.onSave(null)}
        >
          Unlink
        </button>
      )}
    </form>
  );
}

/** What the budget field holds: a number when it reads as one, else the text as typed (the API refuses it). */
function budgetValue(text: string): number | string {
  return /^[+-]?(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : text;
}

const budgetText = (budget: number | string) =>
  typeof budget === 'number' ? dollars(budget) : `“${budget}”`;

/**
 * The user's monthly budget over their runs in every project, and what those runs cost this month.
 * Saved empty, the budget is removed. The field takes any text: the API is the one judge of a budget,
 * and its message (a negative amount, a word) is shown like every other refusal on these pages.
 */
function UserBudget(props: {
  user: UserAccountDto;
  busy: boolean;
  onSave: (budget: number | string | null) => Promise<void>;
}) {
  const { user } = props;
  const budget = user.budget_usd_month;
  const spent = `$${user.spent_usd_month.toFixed(2)}`;
  const percent = budget === null ? null : budgetPercent(user.spent_usd_month, budget);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const text = String(new FormData(e.currentTarget).get('budget_usd_month') ?? '').trim();
    await props.onSave(text === '' ? null : budgetValue(text));
  };
  return (
    <div className="user-budget">
      <form className="actions" onSubmit={submit}>
        <input
          name="budget_usd_month"
          defaultValue={budget ?? ''}
          placeholder="no limit"
          aria-label={`Monthly budget of ${user.id} in USD`}
          inputMode="decimal"
          autoComplete="off"
          spellCheck={false}
        />
        <button type="submit" disabled={props.busy} aria-label={`Save monthly budget of ${user.id}`}>
          Save
        </button>
        {budget !== null && (
          <button
            type="button"
            disabled={props.busy}
            aria-label={`Remove monthly budget of ${user.id}`}
            onClick={() => void props.onSave(null)}
          >
            Remove
          </button>
        )}
      </form>
      <p
        className={`muted budget-spend${percent !== null && percent >= BUDGET_WARN_AT ? ' warning' : ''}`}
        data-testid="user-spend"
      >
        {budget === null || percent === null
          ? `${spent} this month`
          : `${spent} of ${dollars(budget)} this month (${percent} %)`}
      </p>
    </div>
  );
}

function SetPassword({ user, onSet }: { user: UserAccountDto; onSet: (password: string) => Promise<void> }) {
  const [open, setOpen] = useState(false);
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)} aria-label={`Set password for ${user.id}`}>
        Set password
      </button>
    );
  }
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    await onSet(String(new FormData(form).get('password') ?? ''));
    form.reset();
    setOpen(false);
  };
  return (
    <form className="actions" onSubmit={submit}>
      <input
        name="password"
        type="password"
        autoComplete="new-password"
        aria-label={`New password of ${user.id}`}
        required
      />
      <button type="submit">Save</button>
      <button type="button" onClick={() => setOpen(false)}>
        Cancel
      </button>
    </form>
  );
}

function NewUserForm({ roles, onCreated }: { roles: RoleDto[]; onCreated: (u: UserAccountDto) => void }) {
  const toasts = useToasts();
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const get = (k: string) => String(data.get(k) ?? '');
    setBusy(true);
    try {
      const u = await users.create({
        id: get('id').trim(),
        role: get('role'),
        ...(get('name').trim() ? { name: get('name').trim() } : {}),
        ...(get('password') ? { password: get('password') } : {}),
      });
      onCreated(u);
      form.reset();
      toasts.info(`User ${u.id} added as ${u.role}.`);
    } catch (err) {
      toasts.error('add the user', err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="form panel" onSubmit={submit} aria-labelledby="new-user-title" autoComplete="off">
      <h2 id="new-user-title">Add a user</h2>
      <Field label="User id" hint="Letters, digits, dot, dash, underscore or @; it cannot change later.">
        <input name="id" required maxLength={128} pattern="[A-Za-z0-9][A-Za-z0-9._@\-]*" spellCheck={false} />
      </Field>
      <Field label="Name" optional>
        <input name="name" maxLength={200} />
      </Field>
      <Field label="Role">
        <select name="role" defaultValue="DEVELOPER">
          {roles.map((r) => (
            <option key={r.name}>{r.name}</option>
          ))}
        </select>
      </Field>
      <Field label="Password" optional hint="Without one, the user can only use API keys an admin makes.">
        <input name="password" type="password" autoComplete="new-password" />
      </Field>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Adding…' : 'Add user'}
        </button>
      </div>
    </form>
  );
}
