package operator

import (
	"runtime/debug"
	"strings"
)

// Version describes the build from its Go build information: the module
// version (v1.2.3, or "(devel)" for a build from a checkout) and, when the
// binary was built from a VCS checkout, the revision, its time and whether
// the tree had local changes.
func Version(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "unknown (no build information in the binary)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var extra []string
	if rev := settings["vcs.revision"]; rev != "" {
		if settings["vcs.modified"] == "true" {
			rev += "-dirty"
		}
		extra = append(extra, "revision "+rev)
	}
	if t := settings["vcs.time"]; t != "" {
		extra = append(extra, "committed "+t)
	}
	if info.GoVersion != "" {
		extra = append(extra, info.GoVersion)
	}
	if len(extra) == 0 {
		return v
	}
	return v + " (" + strings.Join(extra, ", ") + ")"
}
