import type { ReloadFleet } from './rollout';

/** Who a promotion reloads, and the `reloadTargets` refused because they are not in the fleet. */
export interface FleetTargets extends ReloadFleet {
  /** `reloadTargets` that are neither in `RETRAIN_SERVING_URLS` nor announced alive: never sent the key. */
  outsiders: string[];
}

/**
 * The servers to reload: `RETRAIN_SERVING_URLS` (`servingUrls`) and the servers announced alive now
 * (`alive`), or, when a run names `reloadTargets`, those of them in the fleet. A url in both lists
 * counts as static, so it keeps the static behaviour (a server that cannot be reached fails the promotion).
 */
export function fleetTargets(servingUrls: string[], alive: string[], reloadTargets?: string[]): FleetTargets {
  const statics = new Set(servingUrls.map(sameServer));
  const announced = new Set(alive.map(sameServer));
  if (reloadTargets === undefined) {
    const discovered = unique(alive).filter((url) => !statics.has(sameServer(url)));
    return { targets: servingUrls, discovered, outsiders: [] };
  }
  const named = unique(reloadTargets);
  return {
    targets: named.filter((url) => statics.has(sameServer(url))),
    discovered: named.filter((url) => !statics.has(sameServer(url)) && announced.has(sameServer(url))),
    outsiders: named.filter((url) => !statics.has(sameServer(url)) && !announced.has(sameServer(url))),
  };
}

/** One spelling per server: `http://127.0.0.1:8000` and `http://127.0.0.1:8000/` are the same. */
function sameServer(url: string): string {
  return new URL(url).href;
}

function unique(urls: string[]): string[] {
  const seen = new Set<string>();
  return urls.filter((url) => !seen.has(sameServer(url)) && seen.add(sameServer(url)));
}
