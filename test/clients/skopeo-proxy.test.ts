import { Skopeo } from './registry-clients.js';
import { proxyGroupScenarios } from './proxy-group-scenarios.js';

// skopeo copies through a proxy and a group, and pushes to the group.
proxyGroupScenarios('skopeo', (workDir) => new Skopeo(workDir));
