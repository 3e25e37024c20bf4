export { listeningPorts, STANDARD_PORTS } from '@hacp/core/provider-kit';
export {
  createLocalProvider,
  type LocalProcessState,
  type LocalProvider,
  type LocalProviderSettings,
} from './provider.js';
export { LOCAL_ZONES } from './zones.js';
