package server

import (
	_ "embed"
	"fmt"
	"html"
	"net/http"
	"strings"
)

// landingHTML is exporter-toolkit's landing page for this exporter, rendered
// by the toolkit itself (TestLandingPageIsTheToolkits regenerates it with
// -update and fails when the toolkit's output changes) with placeholders
// where the values known only at run time go.
//
// The binary does not call web.NewLandingPage: it renders with text/template,
// and a reachable template execution turns off the linker's dead-method
// elimination for the whole program, which cost the exporter 4 MB of binary
// and about 3.5 MiB of resident memory (see binarysize_test.go).
//
//go:embed landing.html
var landingHTML string

// The placeholders in landing.html.
const (
	landingDescription = "@DESCRIPTION@"
	landingVersion     = "@VERSION@"
)

// landingPage serves the landing page with the node, backend, interval and
// version filled in, HTML-escaped.
func landingPage(cfg Config) http.Handler {
	page := []byte(strings.NewReplacer(
		landingDescription, html.EscapeString(fmt.Sprintf("Node %s, backend %s, collection every %s.", cfg.NodeName, cfg.Backend, cfg.Interval)),
		landingVersion, html.EscapeString(cfg.Version),
	).Replace(landingHTML))
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		_, _ = w.Write(page)
	})
}
