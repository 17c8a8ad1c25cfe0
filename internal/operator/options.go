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

// Outputs are the values of -o/--output (status and doctor).
var Outputs = []string{OutputTable, OutputJSON, OutputYAML}

// Output formats.
const (
	OutputTable = "table"
	OutputJSON  = "json"
	OutputYAML  = "yaml"
)

// Options are the command's flags.
type Options struct {
	Action     string
	Values     []string
	Sets       []string
	SetStrings []string
	SetFiles   []string
	// Output is table (default), json or yaml; status and doctor only.
	Output    string
	Namespace string
	// NamespaceSource says where Namespace came from (ResolveNamespace);
	// empty: given directly.
	NamespaceSource string
	Release         string
	Chart           string
	// ChartSource is --chart-version, --repo and --plain-http, for a
	// chart fetched from an OCI registry or a chart repository.
	ChartSource     deploy.ChartSource
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
	if o.Action != "deploy" && (len(o.Values) > 0 || len(o.Sets) > 0 || len(o.SetStrings) > 0 || len(o.SetFiles) > 0) {
		return usagef("--values, --set, --set-string and --set-file only apply to --action deploy")
	}
	switch o.Output {
	case "", OutputTable:
	case OutputJSON, OutputYAML:
		if o.Action != "status" && o.Action != "doctor" {
			return usagef("-o %s only applies to --action status and --action doctor; drop -o for %s", o.Output, o.Action)
		}
	default:
		return usagef("-o %q is not one of %s", o.Output, strings.Join(Outputs, ", "))
	}
	if o.Timeout <= 0 {
		return usagef("--timeout must be positive, e.g. --timeout 5m")
	}
	if err := deploy.ValidateNamespace(o.Namespace); err != nil {
		if o.NamespaceSource != "" && o.NamespaceSource != NamespaceFromFlag {
			return usagef("%v (the namespace came from %s; pass --namespace to override it)", err, o.NamespaceSource)
		}
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

// Namespace sources, in the order ResolveNamespace tries them.
const (
	NamespaceFromFlag       = "--namespace"
	NamespaceFromHelmEnv    = "$HELM_NAMESPACE"
	NamespaceFromKubeconfig = "the kubeconfig context"
	NamespaceFromDefault    = "the default"
)

// ResolveNamespace picks the release namespace as helm does, with the
// project's default in place of "default": an explicit --namespace, else
// $HELM_NAMESPACE (helmNamespace), else the namespace of the kubeconfig
// context (kubeconfig and kubeContext as given on the command line), else
// contract.DefaultNamespace. It returns the namespace and where it came from.
func ResolveNamespace(flagValue string, flagSet bool, helmNamespace, kubeconfig, kubeContext string) (string, string) {
	switch {
	case flagSet:
		return flagValue, NamespaceFromFlag
	case helmNamespace != "":
		return helmNamespace, NamespaceFromHelmEnv
	}
	if ns := cluster.ContextNamespace(kubeconfig, kubeContext); ns != "" {
		return ns, NamespaceFromKubeconfig
	}
	return contract.DefaultNamespace, NamespaceFromDefault
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
