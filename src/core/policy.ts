import { RegistryError } from '../oci/errors.js';

/** Registry-wide switches from `storage.delete.enabled` and `storage.maintenance.readonly`. */
export interface RegistryPolicy {
  deleteEnabled: boolean;
  readOnly: boolean;
}

export function requireWritable(policy: RegistryPolicy): void {
  if (policy.readOnly) throw new RegistryError('UNSUPPORTED', 'the registry is in read-only mode (storage.maintenance.readonly.enabled)');
}

export function requireDeletable(policy: RegistryPolicy): void {
  requireWritable(policy);
  if (!policy.deleteEnabled) {
    throw new RegistryError('UNSUPPORTED', 'deletion is disabled: set storage.delete.enabled to true (or REGISTRY_STORAGE_DELETE_ENABLED=true)');
  }
}
