import { Podman } from './registry-clients.js';
import { proxyGroupScenarios } from './proxy-group-scenarios.js';

// podman pulls through a proxy and a group (each pull into a fresh store) and pushes to the group.
proxyGroupScenarios('podman', (workDir) => new Podman(workDir));
