package deploy

import (
	"io"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"
)

// ChartSource says where a remote chart comes from: the --chart-version,
// --repo and --plain-http of the deploy tool, as helm's --version, --repo
// and --plain-http.
type ChartSource struct {
	// Version is a chart version or SemVer constraint (empty: the newest).
	Version string
	// RepoURL is a classic chart repository (index.yaml) holding Chart.
	RepoURL string
	// PlainHTTP talks to an OCI registry over HTTP (a loopback test
	// registry); https stays the default.
	PlainHTTP bool
}

// isRemoteChart tells whether the chart named ref is fetched rather than
// read from the disk: an oci:// or http(s):// reference, or any name when a
// repository is given.
func isRemoteChart(ref string, src ChartSource) bool {
	return src.RepoURL != "" || registry.IsOCI(ref) || strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://")
}

// locateRemoteChart downloads the chart ref as `helm install` would (into
// helm's repository cache, $HELM_CACHE_HOME) and returns the archive's path.
func locateRemoteChart(ref string, src ChartSource) (string, error) {
	opts := []registry.ClientOption{registry.ClientOptWriter(io.Discard)}
	if src.PlainHTTP {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	rc, err := registry.NewClient(opts...)
	if err != nil {
		return "", invalid("chart %s: OCI registry client: %v", ref, err)
	}
	inst := action.NewInstall(&action.Configuration{RegistryClient: rc, Log: func(string, ...any) {}})
	inst.ChartPathOptions.Version = src.Version
	inst.ChartPathOptions.RepoURL = src.RepoURL
	inst.ChartPathOptions.PlainHTTP = src.PlainHTTP
	where := ref
	if src.RepoURL != "" {
		where = ref + " in the repository " + src.RepoURL
	}
	if src.Version != "" {
		where += " version " + src.Version
	}
	path, err := inst.ChartPathOptions.LocateChart(ref, cli.New())
	if err != nil {
		return "", invalid("fetch chart %s: %v (check the reference, --chart-version and --repo; a registry on plain HTTP needs --plain-http)", where, err)
	}
	return path, nil
}
