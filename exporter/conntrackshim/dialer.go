package conntrack

import (
	"context"
	"net"
)

type dialerOpts struct {
	name       string
	parentDial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// dialerOpt configures NewDialContextFunc and NewDialFunc.
type dialerOpt func(*dialerOpts)

// DialWithName names the dialer; the name is put in the dial's context.
func DialWithName(name string) dialerOpt {
	return func(o *dialerOpts) { o.name = name }
}

// DialWithoutMonitoring is accepted for compatibility: this package does not
// monitor.
func DialWithoutMonitoring() dialerOpt {
	return func(*dialerOpts) {}
}

// DialWithTracing is accepted for compatibility: this package does not
// trace.
func DialWithTracing() dialerOpt {
	return func(*dialerOpts) {}
}

// DialWithDialer dials with parentDialer.
func DialWithDialer(parentDialer *net.Dialer) dialerOpt {
	return func(o *dialerOpts) { o.parentDial = parentDialer.DialContext }
}

// DialWithDialContextFunc dials with parentDialerFunc.
func DialWithDialContextFunc(parentDialerFunc func(context.Context, string, string) (net.Conn, error)) dialerOpt {
	return func(o *dialerOpts) { o.parentDial = parentDialerFunc }
}

type dialerNameKey struct{}

// DialNameFromContext returns the dialer name NewDialContextFunc put in ctx.
func DialNameFromContext(ctx context.Context) string {
	name, _ := ctx.Value(dialerNameKey{}).(string)
	return name
}

// DialNameToContext returns a context carrying dialerName.
func DialNameToContext(ctx context.Context, dialerName string) context.Context {
	return context.WithValue(ctx, dialerNameKey{}, dialerName)
}

// PreRegisterDialerMetrics is accepted for compatibility: there are no
// dialer metrics.
func PreRegisterDialerMetrics(string) {}

// NewDialContextFunc returns a dial function configured by optFuncs.
func NewDialContextFunc(optFuncs ...dialerOpt) func(context.Context, string, string) (net.Conn, error) {
	opts := &dialerOpts{name: "default", parentDial: (&net.Dialer{}).DialContext}
	for _, f := range optFuncs {
		f(opts)
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if DialNameFromContext(ctx) == "" {
			ctx = DialNameToContext(ctx, opts.name)
		}
		return opts.parentDial(ctx, network, addr)
	}
}

// NewDialFunc is NewDialContextFunc without a context.
func NewDialFunc(optFuncs ...dialerOpt) func(string, string) (net.Conn, error) {
	dial := NewDialContextFunc(optFuncs...)
	return func(network, addr string) (net.Conn, error) {
		return dial(context.Background(), network, addr)
	}
}
