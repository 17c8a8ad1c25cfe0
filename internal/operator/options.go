package operator

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/medical-kg/gpu-autoscaling/internal/cluster"
	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/deploy"
	"github.com/medical-kg/gpu-autoscaling/internal/doctor"
)

// usageError is a problem with what was asked: reported in one line.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }

func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// Actions are the values of --action.
var Actions = []string{"deploy", "status", "undeploy", "doctor"}

// Options are the command's flags.
type Options struct {
	Action          string
	Values          []string
	Sets            []string
	Namespace       string
	Release         string
	Chart           string
	Kubeconfig      string
	Context         string
	Timeout         time.Duration
	PrometheusURL   string
	ExporterJob     string
	GPUNodeSelector string
	FlapThreshold   int
	Debug           bool
}

// DefaultOptions are the flags' defaults.
func DefaultOptions() Options {
	return Options{Namespace: contract.DefaultNamespace, Release: contract.DefaultRelease, Chart: contract.DefaultChart,
		Timeout: contract.DefaultTimeout, ExporterJob: doctor.DefaultExporterJob,
		FlapThreshold: doctor.DefaultFlapThreshold}
}

// Validate checks the options before anything touches the cluster.
func (o *Options) Validate() error {
	valid := false
	for _, a := range Actions {
		valid = valid || o.Action == a
	}
	if o.Action == "" {
		return usagef("--action is required: one of %s", strings.Join(Actions, ", "))
	}
	if !valid {
		return usagef("--action %q is not one of %s", o.Action, strings.Join(Actions, ", "))
	}
	if o.Action != "deploy" && (len(o.Values) > 0 || len(o.Sets) > 0) {
		return usagef("--values and --set only apply to --action deploy")
	}
	if o.Timeout <= 0 {
		return usagef("--timeout must be positive, e.g. --timeout 5m")
	}
	if err := deploy.ValidateNamespace(o.Namespace); err != nil {
		return usageError{err}
	}
	if o.Release == "" {
		return usagef("--release must not be empty")
	}
	if o.PrometheusURL != "" {
		u, err := url.Parse(o.PrometheusURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--prometheus-url %q: expected http(s)://host:port", o.PrometheusURL)
		}
	}
	if _, err := labels.Parse(o.GPUNodeSelector); err != nil {
		return usagef("--gpu-node-selector %q: %v", o.GPUNodeSelector, err)
	}
	if o.FlapThreshold < 1 {
		return usagef("--flap-threshold must be at least 1")
	}
	return nil
}

// ActionFailed: the action ran and found or caused a failure, already
// printed; Msg (if any) is the one line to add on stderr.
type ActionFailed struct{ Msg string }

func (a *ActionFailed) Error() string { return a.Msg }

// IsUsage reports whether err is about the input (flags, chart, values, an
// unreachable cluster): nothing was changed.
func IsUsage(err error) bool {
	var u usageError
	return errors.As(err, &u) || errors.Is(err, deploy.ErrInvalidInput) || errors.Is(err, cluster.ErrUnreachable)
}

// Next renders a follow-up command with the same cluster and release flags.
func (o *Options) Next(action string) string {
	parts := []string{"deploy-auto-scaling", "--action", action}
	if o.Namespace != contract.DefaultNamespace {
		parts = append(parts, "--namespace", o.Namespace)
	}
	if o.Release != contract.DefaultRelease {
		parts = append(parts, "--release", o.Release)
	}
	if o.Kubeconfig != "" {
		parts = append(parts, "--kubeconfig", o.Kubeconfig)
	}
	if o.Context != "" {
		parts = append(parts, "--context", o.Context)
	}
	if action == "doctor" && o.PrometheusURL != "" {
		parts = append(parts, "--prometheus-url", o.PrometheusURL)
	}
	return strings.Join(parts, " ")
}
