import globalTeardown from './global-teardown';
import type { ThrowawayCluster } from './throwaway-cluster';

export default async function routabilityTeardown(): Promise<void> {
  await globalTeardown();
  await (globalThis as { __RL_ROUTABILITY__?: ThrowawayCluster }).__RL_ROUTABILITY__?.destroy();
}
