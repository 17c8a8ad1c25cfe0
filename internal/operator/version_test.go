package operator

import (
	"runtime/debug"
	"testing"
)

func TestVersion(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.7", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "c9513f7"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := Version(info, true), "v1.2.3 (revision c9513f7-dirty, committed 2026-01-02T03:04:05Z, go1.26.7)"; got != want {
		t.Errorf("Version = %q, want %q", got, want)
	}
	if got := Version(&debug.BuildInfo{}, true); got != "(devel)" {
		t.Errorf("Version without settings = %q", got)
	}
	if got := Version(nil, false); got != "unknown (no build information in the binary)" {
		t.Errorf("Version without build info = %q", got)
	}
}
