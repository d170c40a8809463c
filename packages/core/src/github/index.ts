export { type GithubAccess, GithubApps, githubAccess } from './client.ts';
export { branchName } from './deliver.ts';
export { checkGithubLinks, type GithubCheck } from './doctor.ts';
export { type GithubOrigin, githubOriginSchema } from './origin.ts';
export { scanDiff } from './secret-scan.ts';
export { verifyWebhookSignature } from './signature.ts';
export { commandOf, processDelivery, processPendingDeliveries, recordDelivery } from './webhook.ts';
