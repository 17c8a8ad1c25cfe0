#!/usr/bin/env bash
# Builds the sandbox's cluster binaries from the pinned tools modules under
# tools/cluster/ into a cache outside the clone, keyed by each module's go.sum
# and the Go version, then links them into the project bin folder.
#
#   tools/cluster/build.sh BIN_DIR [component...]
#
# Components: kubernetes etcd kwok adapter metrics-server prometheus (default: all).
# Cache: $GPU_AUTOSCALING_CACHE (default ~/.cache/gpu-autoscaling).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin_dir=${1:?usage: build.sh BIN_DIR [component...]}
shift
components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kubernetes etcd kwok adapter metrics-server prometheus)
cache=${GPU_AUTOSCALING_CACHE:-$HOME/.cache/gpu-autoscaling}
mkdir -p "$bin_dir" "$cache/cluster"
gover=$(go env GOVERSION)
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v1.36.3 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36"

log() { printf '[cluster-tools] %s\n' "$*" >&2; }

# key COMPONENT: a short hash of the module files and the Go toolchain.
key() { cat "$here/$1/go.mod" "$here/$1/go.sum" <(echo "$gover $ldflags") | sha256sum | cut -c1-16; }

# build COMPONENT BINARY=PACKAGE...
build() {
	local comp=$1; shift
	local out="$cache/cluster/$comp-$(key "$comp")"
	if [ -f "$out/.complete" ]; then
		log "$comp: cached in $out"
	else
		log "$comp: building into $out (first run only; this takes minutes on 2 cores)"
		local start=$SECONDS tmp="$out.tmp.$$"
		rm -rf "$tmp" && mkdir -p "$tmp"
		local spec name pkg
		for spec in "$@"; do
			name=${spec%%=*}; pkg=${spec#*=}
			log "  go build $name ($pkg)"
			(cd "$here/$comp" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/$name" "$pkg")
		done
		touch "$tmp/.complete"
		rm -rf "$out" && mv "$tmp" "$out"
		log "$comp: built in $((SECONDS - start))s"
	fi
	for spec in "$@"; do ln -sfn "$out/${spec%%=*}" "$bin_dir/${spec%%=*}"; done
}

# prometheus and promtool come from Debian's package (pinned version): building
# github.com/prometheus/prometheus takes 10-14 min on 2 cores, the package 25 s.
prometheus_version=2.42.0+ds-5+deb12u1
prometheus() {
	if ! dpkg-query -W -f='${Status} ${Version}' prometheus 2>/dev/null | grep -qx "install ok installed $prometheus_version" ||
		[ ! -x /usr/bin/prometheus ] || [ ! -x /usr/bin/promtool ]; then
		log "prometheus: installing Debian package prometheus=$prometheus_version"
		local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
		$sudo apt-get update -qq >/dev/null
		# The package's service is not wanted (the sandbox runs its own instances): a policy-rc.d that
		# answers 101 keeps the maintainer scripts from starting it, without touching other Prometheus.
		local policy=/usr/sbin/policy-rc.d own_policy=""
		if [ ! -e "$policy" ]; then
			printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && own_policy=1
		fi
		local rc=0
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
			"prometheus=$prometheus_version" >/dev/null || rc=$?
		[ -z "$own_policy" ] || $sudo rm -f "$policy"
		[ "$rc" = 0 ] || { log "prometheus: apt-get install prometheus=$prometheus_version failed ($rc)"; exit "$rc"; }
	else
		log "prometheus: Debian package $prometheus_version installed"
	fi
	ln -sfn /usr/bin/prometheus "$bin_dir/prometheus"
	ln -sfn /usr/bin/promtool "$bin_dir/promtool"
}

for c in "${components[@]}"; do
	case $c in
	kubernetes) build kubernetes kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
		kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
		kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
		kubelet=k8s.io/kubernetes/cmd/kubelet \
		kube-proxy=k8s.io/kubernetes/cmd/kube-proxy ;;
	etcd) build etcd etcd=. ;;
	kwok) build kwok kwok=sigs.k8s.io/kwok/cmd/kwok ;;
	adapter) build adapter prometheus-adapter=sigs.k8s.io/prometheus-adapter/cmd/adapter ;;
	metrics-server) build metrics-server metrics-server=sigs.k8s.io/metrics-server/cmd/metrics-server ;;
	prometheus) prometheus ;;
	*) echo "unknown component $c (want kubernetes etcd kwok adapter metrics-server prometheus)" >&2; exit 2 ;;
	esac
done
