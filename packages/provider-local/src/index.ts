export { listeningPorts, STANDARD_PORTS } from './network.js';
export {
  createLocalProvider,
  LOCAL_ZONES,
  type LocalProcessState,
  type LocalProvider,
  type LocalProviderSettings,
} from './provider.js';
