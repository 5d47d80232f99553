import { Skopeo } from './registry-clients.js';
import { clientScenarios } from './scenarios.js';

// skopeo 1.x from Debian: copy (push, pull, cross-repository copy), inspect, list-tags, delete.
clientScenarios('skopeo', (workDir) => new Skopeo(workDir));
