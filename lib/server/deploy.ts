/**
 * Deno Deploy may run several instances of the server at once, each in its
 * own isolate with its own memory and Deno KV: without a shared Redis they
 * do not see one another's agents, and without one configured secret they
 * may not accept one another's tokens. This says so at start.
 *
 * @module
 */

/** What {@link deployWarnings} reads of the configuration. */
export interface DeploySettings {
  redisUrl?: string;
  secret?: string;
}

/**
 * The warnings to log at start: none off Deno Deploy (no
 * `deploymentId`, the `DENO_DEPLOYMENT_ID` Deploy sets), else one for each
 * of `FLIGHTDECK_REDIS_URL` and `FLIGHTDECK_SECRET` that is not set.
 */
export function deployWarnings(
  deploymentId: string | undefined,
  settings: DeploySettings,
): string[] {
  if (!deploymentId) return [];
  const warnings: string[] = [];
  if (!settings.redisUrl) {
    warnings.push(
      "Running on Deno Deploy without FLIGHTDECK_REDIS_URL: Deploy may run several instances, and each keeps its own agents, queues, sign-ins and audit trail, so a dashboard may not see an agent connected to another instance. Set FLIGHTDECK_REDIS_URL to a Redis reachable over TCP.",
    );
  }
  if (!settings.secret) {
    warnings.push(
      "Running on Deno Deploy without FLIGHTDECK_SECRET: tokens must be signed with one secret by every instance. Set FLIGHTDECK_SECRET (at least 32 characters) in the project's environment variables.",
    );
  }
  return warnings;
}

/** `DENO_DEPLOYMENT_ID`, or undefined when unset or not readable. */
export function deploymentId(): string | undefined {
  try {
    return Deno.env.get("DENO_DEPLOYMENT_ID") || undefined;
  } catch {
    return undefined; // No --allow-env.
  }
}
