#!/usr/bin/env bash
# The one list of Debian packages the test suite and the benchmark drive; installs those missing
# and says which. `install-test-deps.sh` covers the whole suite (npm test, whose benchmark quick
# mode needs the bench group too); `install-test-deps.sh bench` only what `npm run bench` needs.
# README.md lists the same packages.
set -euo pipefail

# package:probe — the probe is a command on PATH, or an absolute path that must be executable.
suite=(
  skopeo:skopeo                    # client scenarios (test/clients)
  podman:podman                    # client scenarios (test/clients)
  openssl:openssl                  # TLS certificates (test/integration)
  apache2-utils:htpasswd           # htpasswd files Apache's tool writes and verifies
  tar:tar                          # image layers (test/support/images.ts)
  containerd:ctr                   # ctr --hosts-dir through a proxy repository (?ns=, test/clients)
  docker.io:/usr/sbin/dockerd      # the Docker engine: registry-mirrors through Berth, docker search / login (test/clients)
  chromium:/usr/bin/chromium       # browser tests, driven by playwright-core (test/browser)
)
# Both the suite and the benchmark's scale-out rows start these.
stores=(
  postgresql:/usr/lib/postgresql/15/bin/initdb   # PostgreSQL 15: the metadata contract suite and locks (test/support/postgres.ts)
  ceph-mon:ceph-mon                # a single-node Ceph for the S3 tests (test/support/ceph.ts): monitor,
  ceph-osd:ceph-osd                #   memstore OSD,
  radosgw:radosgw                  #   RADOS Gateway (the S3 endpoint),
  ceph-common:ceph                 #   and the ceph / radosgw-admin tools that set it up
)
bench=(
  docker-registry:/usr/bin/docker-registry   # CNCF Distribution: the baseline, and the registry:2 trees the import test adopts
  wrk:wrk                          # HTTP load
  nginx-light:nginx                # PUT and sendfile references (needs the dav module, below)
)
case "${1:-all}" in
  all) wanted=("${suite[@]}" "${stores[@]}" "${bench[@]}") ;;
  bench) wanted=("${stores[@]}" "${bench[@]}") ;;
  *) echo "usage: $0 [bench]" >&2; exit 2 ;;
esac

present() {
  local probe=$1
  if [[ $probe == /* ]]; then [ -x "$probe" ]; else command -v "$probe" >/dev/null 2>&1; fi
}

sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
updated=0
install() {
  echo "installing Debian packages: $*"
  if [ "$updated" -eq 0 ]; then
    $sudo_cmd apt-get update -qq
    updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have=()
need=()
for entry in "${wanted[@]}"; do
  if present "${entry#*:}"; then have+=("${entry%%:*}"); else need+=("${entry%%:*}"); fi
done
[ ${#have[@]} -eq 0 ] || echo "Debian packages present: ${have[*]}"
[ ${#need[@]} -eq 0 ] || install "${need[@]}"

# The benchmark's PUT reference needs ngx_http_dav_module. Bookworm's nginx-light is a transitional
# package for nginx, which has it built in; older nginx-light builds lack it, nginx-full has it.
if ! nginx -V 2>&1 | grep -q -- '--with-http_dav_module'; then
  install nginx-full
  nginx -V 2>&1 | grep -q -- '--with-http_dav_module' || { echo "nginx has no dav module; the benchmark's PUT reference cannot run" >&2; exit 1; }
fi
