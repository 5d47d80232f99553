import assert from 'node:assert/strict';
import type { MetadataStore } from '../../src/metadata/store.js';

/**
 * Every method of `MetadataStore`, listed so that TypeScript refuses this file when one is
 * added to the interface and not here; the contract suite then fails unless a test calls it.
 */
const METHODS: Record<Exclude<keyof MetadataStore, 'description'>, true> = {
  appendOutbox: true, registerEndpoints: true, pendingEvents: true, recordDelivery: true, recordFailure: true, endpointStates: true, pruneOutbox: true,
  appendAudit: true, queryAudit: true, pruneAudit: true,
  listPolicyRules: true, putPolicyRule: true, removePolicyRule: true,
  listRepositories: true, repositoryExists: true, deleteRepository: true,
  linkedBlobSize: true, linkBlob: true, linkBlobs: true, unlinkBlob: true, inlineBlob: true,
  getManifest: true, resolveTag: true, putManifest: true, deleteManifest: true, deleteTag: true, listTags: true, listReferrers: true,
  createUpload: true, getUpload: true, recordUploadProgress: true, deleteUpload: true, completeUpload: true, listUploadsUpdatedBefore: true,
  removeStaleLinks: true, recordTouches: true, restoreLinks: true, collectionStatus: true, removeUntaggedManifests: true, unreferencedBlobs: true,
  forgetBlobsIfUnreferenced: true, blobRecorded: true, removeEmptyRepositories: true, previewCollection: true,
  acquireLease: true, releaseLease: true, heartbeat: true, removeInstance: true, liveInstances: true,
  usage: true, listUsage: true, proxyCacheRepositories: true, isProxyCache: true, listTaggedRepositories: true, listTagDetails: true, removeTags: true, recordPulls: true,
  importFinishedAt: true, recordImportFinished: true,
  searchRepositories: true, orderedRepositories: true, repositorySummaries: true, tagSummaries: true, blobSizes: true,
  ping: true, close: true,
};

const called = new Set<string>();

/** The store, noting each method the suite calls on it. */
export function recordingCalls(store: MetadataStore): MetadataStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      called.add(String(property));
      return (value as (...args: unknown[]) => unknown).bind(target);
    },
  });
}

export function everyMethodCalled(): void {
  const missed = Object.keys(METHODS).filter((method) => !called.has(method));
  assert.deepEqual(missed, [], 'every MetadataStore method is exercised by the contract suite');
}
