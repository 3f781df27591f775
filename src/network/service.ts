// The network configuration service: the one door (see change.ts). Stub while the
// store side is built; the full implementation follows.
import type { Clock } from '../clock.js';
import type { Store } from '../store/types.js';
import type { NetworkApplied, NetworkChange, NetworkConfiguration, NetworkProblem, NetworkState, NewCredentials } from './change.js';

export class NetworkService implements NetworkConfiguration {
  constructor(
    private readonly store: Store,
    private readonly kek: Buffer,
    private readonly clock: Clock,
  ) {}

  state(): Promise<NetworkState> {
    throw new Error('not implemented yet');
  }

  check(_change: NetworkChange): Promise<NetworkProblem[]> {
    void this.store;
    void this.kek;
    void this.clock;
    throw new Error('not implemented yet');
  }

  apply(_change: NetworkChange, _actor: string): Promise<{ ok: true; applied: NetworkApplied; credentials: NewCredentials } | { ok: false; problems: NetworkProblem[] }> {
    throw new Error('not implemented yet');
  }
}
