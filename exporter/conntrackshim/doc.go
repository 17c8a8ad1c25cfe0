// Package conntrack stands in for github.com/mwitkow/go-conntrack in this
// repository's build (a replace directive in its go.mod). Its only user here
// is github.com/prometheus/common/config, reached through exporter-toolkit,
// which wraps outgoing HTTP dials with NewDialContextFunc; none of this
// project's programs dial through it on a path that needs the wrapper's
// extras.
//
// The real package imports golang.org/x/net/trace, whose init registers
// /debug/requests and /debug/events on http.DefaultServeMux and whose pages
// render with html/template. A reachable template execution turns off the
// Go linker's dead-method elimination for the whole program: the exporter
// was 4 MB larger and held about 3.5 MiB more resident memory for it (see
// exporter/cmd/gpu-metrics-exporter/binarysize_test.go). The real package
// also registers its dialer metrics on prometheus.DefaultRegisterer, which
// the exporter does not serve.
//
// This package keeps the dialer API with the same behaviour for the dial
// itself: the dial is the parent dialer's (DialWithDialer,
// DialWithDialContextFunc, or a zero net.Dialer), the dialer name travels in
// the context. Tracing and the dialer metrics are not provided.
package conntrack
