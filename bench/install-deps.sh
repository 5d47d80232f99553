#!/usr/bin/env bash
# Installs what the benchmark drives, skipping what is present: Debian's docker-registry
# (CNCF Distribution), wrk, and nginx with the dav module (for the PUT reference).
set -euo pipefail
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
updated=0
install() {
  if [ "$updated" -eq 0 ]; then
    $sudo_cmd apt-get update -qq
    updated=1
  fi
  echo "bench: installing Debian packages: $*" >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
need=()
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
[ ${#need[@]} -eq 0 ] || install "${need[@]}"
# PUT needs ngx_http_dav_module. Bookworm's nginx-light is a transitional package for nginx,
# which has it built in; older nginx-light builds lack it, nginx-full has it.
if ! nginx -V 2>&1 | grep -q -- '--with-http_dav_module'; then
  install nginx-full
  nginx -V 2>&1 | grep -q -- '--with-http_dav_module' || { echo "bench: nginx has no dav module; the PUT reference cannot run" >&2; exit 1; }
fi
