#!/usr/bin/env bash
# Writes the wrapper Go module that builds kube-apiserver, kubectl, kube-scheduler
# and kube-controller-manager of one Kubernetes release: `kube-module.sh v1.31.14`
# fills gomod/kube/1.31/ (go.mod, go.sum). k8s.io/kubernetes points its staging
# modules (k8s.io/api, k8s.io/client-go, ...) at directories inside its own tree;
# the wrapper points each at the published v0.MINOR.PATCH of the same release,
# read from that tag's go.mod, and keeps the tag's language version and GODEBUG
# defaults so the binaries behave as the release's own build. A staging module the
# module proxy does not serve at that patch takes the newest earlier patch of the
# same minor it does serve (named in a comment beside the directive).
set -euo pipefail

version=${1:?usage: kube-module.sh v1.MINOR.PATCH}
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "kube-module.sh: $version is no v1.MINOR.PATCH" >&2; exit 2; }
minor=${BASH_REMATCH[1]} patch=${BASH_REMATCH[2]}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir="$here/kube/1.$minor"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && go mod download -json "k8s.io/kubernetes@$version") > "$work/download.json"
upstream=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' "$work/download.json")

go_version=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$upstream")
godebug=$(sed -n 's/^godebug default=\(go[0-9.]*\)$/\1/p' "$upstream")
# The language version without its patch is the release's GODEBUG default when it sets none.
[ -n "$godebug" ] || godebug="go$(echo "$go_version" | cut -d. -f1,2)"
# `tool` directives need go 1.24; an older release keeps its own GODEBUG defaults.
if [ "$(printf '%s\n' "$go_version" 1.24.0 | sort -V | head -1)" != 1.24.0 ]; then
  go_version=1.24.0
fi
staging=$(sed -n 's|^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/k8s\.io/[a-z0-9-]*$|\1|p' "$upstream")
[ -n "$staging" ] || { echo "kube-module.sh: no staging replace directives in $upstream" >&2; exit 1; }

served() { # MODULE@VERSION -> 0 when the module proxy serves it (its zip, not only its info)
  (cd "$work" && go mod download "$1" >/dev/null 2>&1)
}
staging_version() { # MODULE -> v0.MINOR.PATCH, or the newest earlier patch served
  local module=$1 candidate
  if served "$module@v0.$minor.$patch"; then echo "v0.$minor.$patch"; return; fi
  for candidate in $( (cd "$work" && go list -m -versions "$module" 2>/dev/null) | tr ' ' '\n' \
      | grep -E "^v0\.$minor\.[0-9]+$" | sort -V -r); do
    if [ "$(printf '%s\n' "$candidate" "v0.$minor.$patch" | sort -V | head -1)" = "$candidate" ] \
        && served "$module@$candidate"; then
      echo "$candidate"; return
    fi
  done
  # Served at no patch: left at the release's own; `go mod tidy` fails if a binary needs it.
  echo "v0.$minor.$patch"
}

mkdir -p "$dir"
{
  echo "// Wrapper module that builds kube-apiserver, kubectl, kube-scheduler and"
  echo "// kube-controller-manager $version from the official k8s.io/kubernetes module."
  echo "// Staging modules resolve to their published v0.$minor.$patch. Written by"
  echo "// ../../kube-module.sh $version; edit that, not this."
  echo "module local.invalid/kuscia-reconciler/controlplane-kube"
  echo
  echo "go $go_version"
  echo
  echo "godebug default=$godebug"
  echo
  echo "tool ("
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    echo "	k8s.io/kubernetes/cmd/$cmd"
  done
  echo ")"
  echo
  echo "require k8s.io/kubernetes $version"
  for module in $staging; do
    pinned=$(staging_version "$module")
    echo
    [ "$pinned" = "v0.$minor.$patch" ] || echo "// v0.$minor.$patch is not served: $pinned, the newest earlier patch."
    echo "replace $module => $module $pinned"
  done
} > "$dir/go.mod"
rm -f "$dir/go.sum"
(cd "$dir" && go mod tidy)
echo "$dir"
