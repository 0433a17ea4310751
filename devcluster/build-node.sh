#!/usr/bin/env bash
# Builds the real node's programs from their official Go modules, once per
# machine, into a cache outside the repository: kubelet, CoreDNS, kube-router
# (its NetworkPolicy firewall), and the small static programs the node's images
# carry (pause, the PSI demo). One build at a time on the machine (a lock);
# a build already done is reused. Prints the directory holding the binaries.
#
# `build-node.sh NAME...` builds only those (kubelet coredns kube-router pause psi-demo).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
module_version() { # DIR MODULE -> the version the wrapper module pins
  (cd "$here/gomod/$1" && go list -m -f '{{.Version}}' "$2")
}
os=$(go env GOOS) arch=$(go env GOARCH)
cache_root=${KUSCIA_RECONCILER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kuscia-reconciler}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-modcacherw

KUBE_VERSION=$(module_version kubelet k8s.io/kubernetes)
COREDNS_VERSION=$(module_version coredns github.com/coredns/coredns)
ROUTER_VERSION=$(module_version kube-router github.com/cloudnativelabs/kube-router/v2)
out="$cache_root/node/kube-${KUBE_VERSION#v}-coredns-${COREDNS_VERSION#v}-router-${ROUTER_VERSION#v}-$os-$arch"
mkdir -p "$out"
exec 9>"$cache_root/node/.build.lock"
flock 9

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kube_ldflags="-s -w -buildid="
minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X '$pkg.gitVersion=$KUBE_VERSION' -X '$pkg.gitMajor=1' -X '$pkg.gitMinor=$minor'"
  kube_ldflags+=" -X '$pkg.gitTreeState=clean' -X '$pkg.buildDate=$build_date'"
done
router_ldflags="-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$ROUTER_VERSION"

go_build() { # NAME DIR PACKAGE LDFLAGS [TAGS]
  local name=$1 dir=$2 pkg=$3 ldflags=$4 tags=${5:-}
  local started=$SECONDS
  echo "building $name from $pkg (cached in $out; takes minutes the first time)" >&2
  (cd "$dir" && nice -n 10 go build -p "$(nproc)" -trimpath ${tags:+-tags "$tags"} \
      -ldflags "$ldflags" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
  echo "built $name in $((SECONDS - started))s" >&2
}

# Small programs built from the repository: cached per content of their sources.
source_stamp() { # DIR -> a hash of the Go sources in it
  (cd "$1" && cat go.mod ./*.go | sha256sum | cut -c1-16)
}
build_local() { # NAME DIR
  local name=$1 dir=$2 stamp
  stamp=$(source_stamp "$dir")
  if [ -x "$out/$name" ] && [ "$(cat "$out/$name.source" 2>/dev/null)" = "$stamp" ]; then return 0; fi
  go_build "$name" "$dir" . "-s -w -buildid="
  echo "$stamp" > "$out/$name.source"
}

build_one() {
  case $1 in
    kubelet)
      [ -x "$out/kubelet" ] || go_build kubelet "$here/gomod/kubelet" k8s.io/kubernetes/cmd/kubelet \
        "$kube_ldflags" selinux,notest ;;
    coredns)
      [ -x "$out/coredns" ] || go_build coredns "$here/gomod/coredns" . "-s -w" ;;
    kube-router)
      [ -x "$out/kube-router" ] || go_build kube-router "$here/gomod/kube-router" \
        github.com/cloudnativelabs/kube-router/v2/cmd/kube-router "$router_ldflags" ;;
    pause) build_local pause "$here/images/pause" ;;
    psi-demo) build_local psi-demo "$repo/examples/psi-demo/app" ;;
    *) echo "unknown program: $1" >&2; exit 2 ;;
  esac
}

if [ $# -eq 0 ]; then set -- pause psi-demo kubelet coredns kube-router; fi
for name in "$@"; do build_one "$name"; done
echo "$out"
