// What the CLI's commands call, in one module that cli-commands.ts loads on demand (while
// the database starts): the domain functions, Prisma and the keys.
export {
  addUser,
  approveDevice,
  createApiKey,
  createTelegramLinkCode,
  ensureBuiltins,
  listApiKeys,
  listDevices,
  listUsers,
  pruneAudit,
  revokeApiKey,
  revokeDevice,
  rotateSecrets,
  rotateUserToken,
  setPassword,
  setProjectGithub,
  signAuditHead,
  unlinkTelegram,
  updateUserAccount,
  verifyAuditChain,
  writeAudit,
} from '@ccl/core';
export { createPrisma } from '@ccl/db';
export { loadAuditSigner } from './audit-key.ts';
export { operatorCtx } from './cli-support.ts';
export { loadSecretsKeyring } from './secrets-key.ts';
