#!/usr/bin/env bash
# Builds the local cluster's binaries from the official Go modules, once per
# machine, into a cache outside the repository. A binary already supplied by
# TEST_ASSET_<NAME>, $KUBEBUILDER_ASSETS or /usr/local/kubebuilder/bin is used
# as it is and never built.
#
# `build-assets.sh [NAME...]` builds the Kubernetes binaries named (etcd,
# kube-apiserver, kubectl, kube-scheduler, kube-controller-manager; without a
# name the first three, the control plane) of the minor $KUBE_VERSION names
# (1.31 ... 1.37: a wrapper module in gomod/kube/<minor>/; default the newest)
# and prints the directory that holds the ones it built (the cache, one per
# Kubernetes and etcd release).
#
# `build-assets.sh kwok` builds KWOK and prints its cache directory, which also
# holds the Stage CRD KWOK needs (kwok.x-k8s.io_stages.yaml, from the module).
#
# `build-assets.sh helm` builds helm instead, the same way, and prints the path
# of the binary; $HELM naming an executable is used as it is and never built.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
module_version() { # DIR MODULE -> the version the wrapper module pins
  (cd "$here/gomod/$1" && GOFLAGS=-mod=mod go list -m -f '{{.Version}}' "$2")
}
os=$(go env GOOS) arch=$(go env GOARCH)
cache_root=${KUSCIA_RECONCILER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kuscia-reconciler}
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-modcacherw

if [ "${1:-}" = helm ]; then
  if [ -n "${HELM:-}" ] && [ -x "$HELM" ]; then echo "$HELM"; exit 0; fi
  HELM_VERSION=$(module_version helm helm.sh/helm/v4)
  helm_dir="$cache_root/helm/${HELM_VERSION#v}-$os-$arch"
  mkdir -p "$helm_dir"
  exec 9>"$helm_dir/.build.lock"
  flock 9
  if [ ! -x "$helm_dir/helm" ]; then
    echo "building helm $HELM_VERSION (cached in $helm_dir; takes minutes the first time)" >&2
    v=helm.sh/helm/v4/internal/version
    (cd "$here/gomod/helm" && go build -p "$(nproc)" -trimpath \
        -ldflags "-s -w -buildid= -X $v.version=$HELM_VERSION -X $v.metadata= -X $v.gitTreeState=clean" \
        -o "$helm_dir/helm.tmp" helm.sh/helm/v4/cmd/helm)
    mv "$helm_dir/helm.tmp" "$helm_dir/helm"
  fi
  echo "$helm_dir/helm"
  exit 0
fi

supplied() { # NAME -> 0 when a binary is supplied from outside
  local name=$1 var
  var="TEST_ASSET_$(echo "$name" | tr 'a-z-' 'A-Z_')"
  [ -n "${!var:-}" ] && [ -x "${!var}" ] && return 0
  [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$name" ] && return 0
  [ -x "/usr/local/kubebuilder/bin/$name" ] && return 0
  return 1
}

if [ "${1:-}" = kwok ]; then
  KWOK_VERSION=$(module_version kwok sigs.k8s.io/kwok)
  kwok_dir="$cache_root/kwok/${KWOK_VERSION#v}-$os-$arch"
  mkdir -p "$kwok_dir"
  exec 9>"$kwok_dir/.build.lock"
  flock 9
  if [ ! -f "$kwok_dir/kwok.x-k8s.io_stages.yaml" ]; then
    module_dir=$(cd "$here/gomod/kwok" && GOFLAGS=-mod=mod go mod download -json sigs.k8s.io/kwok \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    install -m 0644 "$module_dir/kustomize/crd/bases/kwok.x-k8s.io_stages.yaml" "$kwok_dir/"
  fi
  if ! supplied kwok && [ ! -x "$kwok_dir/kwok" ]; then
    echo "building kwok $KWOK_VERSION (cached in $kwok_dir; takes minutes the first time)" >&2
    (cd "$here/gomod/kwok" && go build -p "$(nproc)" -trimpath -ldflags "-s -w -buildid=" \
        -o "$kwok_dir/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok)
    mv "$kwok_dir/kwok.tmp" "$kwok_dir/kwok"
  fi
  echo "$kwok_dir"
  exit 0
fi

# KUBE_VERSION (a minor: 1.31) chooses the wrapper module gomod/kube/<minor>/ (written by
# gomod/kube-module.sh); without it the newest there.
kube_minor=${KUBE_VERSION:-$(ls "$here/gomod/kube" | sort -V | tail -1)}
kube_minor=${kube_minor#v}; kube_minor=$(echo "$kube_minor" | cut -d. -f1,2)
kube_module="kube/$kube_minor"
if [ ! -f "$here/gomod/$kube_module/go.mod" ]; then
  echo "build-assets.sh: KUBE_VERSION=$kube_minor has no wrapper module; supported: $(ls "$here/gomod/kube" | tr '\n' ' ')" >&2
  exit 2
fi
KUBE_RELEASE=$(module_version "$kube_module" k8s.io/kubernetes)
ETCD_VERSION=$(module_version etcd go.etcd.io/etcd/server/v3)
assets="$cache_root/k8s/${KUBE_RELEASE#v}-etcd-${ETCD_VERSION#v}-$os-$arch"

mkdir -p "$assets"
lock="$assets/.build.lock"
exec 9>"$lock"
flock 9

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kube_ldflags="-s -w -buildid="
minor=${KUBE_RELEASE#v1.}; minor=${minor%%.*}
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X '$pkg.gitVersion=$KUBE_RELEASE' -X '$pkg.gitMajor=1' -X '$pkg.gitMinor=$minor'"
  kube_ldflags+=" -X '$pkg.gitTreeState=clean' -X '$pkg.buildDate=$build_date'"
done

reuse_etcd() { # the same etcd built beside another Kubernetes release is copied, not rebuilt
  local other
  for other in "$cache_root"/k8s/*-etcd-"${ETCD_VERSION#v}-$os-$arch"/etcd; do
    [ -x "$other" ] || continue
    cp "$other" "$assets/etcd.tmp" && mv "$assets/etcd.tmp" "$assets/etcd" && return 0
  done
  return 1
}

build() { # NAME MODULE_DIR PACKAGE LDFLAGS
  local name=$1 dir=$2 pkg=$3 ldflags=$4
  if supplied "$name" || [ -x "$assets/$name" ]; then return 0; fi
  if [ "$name" = etcd ] && reuse_etcd; then return 0; fi
  echo "building $name from $pkg (cached in $assets; takes minutes the first time)" >&2
  (cd "$here/gomod/$dir" && go build -p "$(nproc)" -trimpath -tags selinux,notest \
      -ldflags "$ldflags" -o "$assets/$name.tmp" "$pkg")
  mv "$assets/$name.tmp" "$assets/$name"
}

[ $# -gt 0 ] || set -- etcd kube-apiserver kubectl
for name in "$@"; do
  case $name in
    etcd) build etcd etcd go.etcd.io/etcd/server/v3 \
      "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" ;;
    kube-apiserver | kubectl | kube-scheduler | kube-controller-manager)
      build "$name" "$kube_module" "k8s.io/kubernetes/cmd/$name" "$kube_ldflags" ;;
    *) echo "build-assets.sh: unknown binary $name" >&2; exit 2 ;;
  esac
done
echo "$assets"
