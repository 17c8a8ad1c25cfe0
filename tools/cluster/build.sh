#!/usr/bin/env bash
# Builds the sandbox's cluster binaries from the pinned tools modules under
# tools/cluster/ into a cache outside the clone, keyed by each module's go.sum
# and the Go version, then links them into the project bin folder.
#
#   tools/cluster/build.sh BIN_DIR [component...]
#
# Components: kubernetes etcd kwok adapter metrics-server kube-state-metrics prometheus (the default
# set), and for the sandbox's real node: containerd (containerd, its runc shim and
# ctr, built from tools/cluster/containerd) and node-packages (Debian's runc,
# containernetworking-plugins and iptables, pinned versions).
# Cache: $GPU_AUTOSCALING_CACHE (default ~/.cache/gpu-autoscaling).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin_dir=${1:?usage: build.sh BIN_DIR [component...]}
shift
components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kubernetes etcd kwok adapter metrics-server kube-state-metrics prometheus containerd node-packages)
cache=${GPU_AUTOSCALING_CACHE:-$HOME/.cache/gpu-autoscaling}
mkdir -p "$bin_dir" "$cache/cluster"
gover=$(go env GOVERSION)
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v1.36.3 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36"
tags="" # build tags of the component being built (set per component below)

log() { printf '[cluster-tools] %s\n' "$*" >&2; }

# key COMPONENT: a short hash of the module files, the Go toolchain and the flags.
key() { cat "$here/$1/go.mod" "$here/$1/go.sum" <(echo "$gover $ldflags${tags:+ tags=$tags}") | sha256sum | cut -c1-16; }

# build COMPONENT BINARY=PACKAGE...  (with the current $ldflags and $tags)
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
			(cd "$here/$comp" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" ${tags:+-tags "$tags"} -o "$tmp/$name" "$pkg")
		done
		touch "$tmp/.complete"
		rm -rf "$out" && mv "$tmp" "$out"
		log "$comp: built in $((SECONDS - start))s"
	fi
	for spec in "$@"; do ln -sfn "$out/${spec%%=*}" "$bin_dir/${spec%%=*}"; done
}

# apt_install PACKAGE=VERSION... installs pinned Debian packages, only when one
# of them is missing or at another version (idempotent; no apt-get otherwise).
apt_install() {
	local spec missing=()
	for spec in "$@"; do
		dpkg-query -W -f='${Status} ${Version}' "${spec%%=*}" 2>/dev/null | grep -qx "install ok installed ${spec#*=}" ||
			missing+=("$spec")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		log "Debian packages installed: $*"
		return 0
	fi
	log "installing Debian packages ${missing[*]}"
	local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq >/dev/null
	# A package's service is not wanted (the sandbox runs its own instances): a policy-rc.d that
	# answers 101 keeps the maintainer scripts from starting it, without touching other services.
	local policy=/usr/sbin/policy-rc.d own_policy=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && own_policy=1
	fi
	local rc=0
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
	[ -z "$own_policy" ] || $sudo rm -f "$policy"
	[ "$rc" = 0 ] || { log "apt-get install ${missing[*]} failed ($rc)"; exit "$rc"; }
}

# prometheus and promtool are built from github.com/prometheus/prometheus with only
# Kubernetes service discovery (plus the built-in file and HTTP ones): Debian's package
# leaves Kubernetes discovery out, and the full build (every cloud's SDK) takes 10-14 min
# on 2 cores; this one about 4. v0.316.0 of the module is Prometheus v3.16.0.
prometheus() {
	tags="remove_all_sd enable_kubernetes_sd" ldflags="-s -w -X github.com/prometheus/common/version.Version=3.16.0" \
		build prometheus prometheus=github.com/prometheus/prometheus/cmd/prometheus promtool=github.com/prometheus/prometheus/cmd/promtool
}

# The real node's OCI runtime, CNI plugins and kube-proxy's iptables come from
# Debian (bookworm's versions, pinned). bin/runc and bin/cni (the plugin folder:
# bridge, host-local, loopback, portmap, ...) link to them.
runc_version=1.1.5+ds1-1+deb12u1
cni_version=1.1.1+ds1-3+b5
iptables_version=1.8.9-2
node_packages() {
	apt_install "runc=$runc_version" "containernetworking-plugins=$cni_version" "iptables=$iptables_version"
	local f
	for f in /usr/sbin/runc /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback /usr/lib/cni/portmap /usr/sbin/iptables; do
		[ -x "$f" ] || { log "node-packages: $f missing after install"; exit 1; }
	done
	ln -sfn /usr/sbin/runc "$bin_dir/runc"
	ln -sfn /usr/lib/cni "$bin_dir/cni"
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
	kube-state-metrics) ldflags="-s -w -X github.com/prometheus/common/version.Version=v2.15.0" \
		build kube-state-metrics kube-state-metrics=k8s.io/kube-state-metrics/v2 ;;
	prometheus) prometheus ;;
	containerd)
		# cgo-free: no_btrfs (its snapshotter needs cgo), no_zfs/no_devmapper (snapshotters the node does
		# not use), no_tracing (OpenTelemetry exporter plugin), urfave_cli_no_docs (as upstream's Makefile).
		ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=v2.4.2" \
			tags="no_btrfs no_zfs no_devmapper no_tracing urfave_cli_no_docs" \
			build containerd containerd=github.com/containerd/containerd/v2/cmd/containerd \
			containerd-shim-runc-v2=github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
			ctr=github.com/containerd/containerd/v2/cmd/ctr ;;
	node-packages) node_packages ;;
	*) echo "unknown component $c (want kubernetes etcd kwok adapter metrics-server kube-state-metrics prometheus containerd node-packages)" >&2; exit 2 ;;
	esac
done
