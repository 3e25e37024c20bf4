export { type AddonFolder, readAddonFolder } from './folder.js';
export {
  ADDON_MODE_LABEL,
  type AddonMode,
  type AddonObject,
  addonModeOf,
  addonObjectName,
  checkAddonManifests,
  parseAddonManifests,
} from './manifests.js';
export { REQUEST_TIMEOUT_MS } from './object-api.js';
export {
  ADDON_FIELD_MANAGER,
  ADDON_MANAGED_ANNOTATION,
  type AddonKind,
  DEFAULT_PRUNE_KINDS,
  type ReconcileResult,
  reconcileAddons,
} from './reconcile.js';
export { type AddonPassReport, runAddonManager } from './run.js';
