import type { BlobStore } from '../../storage/blob-store';

/** What a {@link countingStore} has been asked since its counts were last reset. */
export interface StoreCounts {
  /** Calls of each operation. */
  calls: { get: number; put: number; list: number; listPrefixes: number; delete: number };
  /** Keys and folders the listings returned: what a listing costs beyond its calls. */
  listed: number;
}

/** `store`, passed through, counting its calls and the keys its listings return; `reset` starts over. */
export function countingStore(store: BlobStore): { store: BlobStore; counts: StoreCounts; reset(): void } {
  const counts: StoreCounts = {
    calls: { get: 0, put: 0, list: 0, listPrefixes: 0, delete: 0 },
    listed: 0,
  };
  const tally = <T>(operation: keyof StoreCounts['calls'], call: () => T): T => {
    counts.calls[operation]++;
    return call();
  };
  const listed = async (keys: Promise<string[]>) => {
    const found = await keys;
    counts.listed += found.length;
    return found;
  };
  return {
    counts,
    reset() {
      for (const name of Object.keys(counts.calls) as (keyof StoreCounts['calls'])[]) counts.calls[name] = 0;
      counts.listed = 0;
    },
    store: {
      uri: store.uri,
      uriFor: (key) => store.uriFor(key),
      get: (key) => tally('get', () => store.get(key)),
      put: (key, body, options) => tally('put', () => store.put(key, body, options)),
      list: (prefix) => tally('list', () => listed(store.list(prefix))),
      listPrefixes: (prefix) => tally('listPrefixes', () => listed(store.listPrefixes(prefix))),
      delete: (key) => tally('delete', () => store.delete(key)),
    },
  };
}
