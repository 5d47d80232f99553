import { Podman } from './registry-clients.js';
import { clientScenarios } from './scenarios.js';

// podman 4.x from Debian, as root, with a vfs store per test: pull, push, tag-and-push to another
// repository, `podman manifest` for indexes, `podman search --list-tags`. It cannot inspect a
// remote manifest's digest or delete from a registry; those steps use skopeo (see scenarios.ts).
clientScenarios('podman', (workDir) => new Podman(workDir));
