package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/medical-kg/gpu-autoscaling/internal/operator"
	"github.com/medical-kg/gpu-autoscaling/internal/textfmt"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// errUsage marks flag-parsing problems (exit 2).
var errUsage = errors.New("usage")

func parseFlags(args []string, stderr io.Writer) (*operator.Options, error) {
	o := operator.DefaultOptions()
	var values, sets stringList
	fs := flag.NewFlagSet("deploy-auto-scaling", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.Action, "action", "", "one of "+strings.Join(operator.Actions, ", ")+" (required)")
	fs.Var(&values, "values", "values file for deploy (repeatable; later files win)")
	fs.Var(&values, "f", "shorthand for --values")
	fs.Var(&sets, "set", "key=value override for deploy (repeatable; Helm --set syntax)")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "namespace of the release (created by deploy if absent)")
	fs.StringVar(&o.Namespace, "n", o.Namespace, "shorthand for --namespace")
	fs.StringVar(&o.Release, "release", o.Release, "Helm release name")
	fs.StringVar(&o.Chart, "chart", o.Chart, "chart path (relative to the working directory or the repository root)")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&o.Context, "context", "", "kubeconfig context (default: the current context)")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "how long deploy/undeploy wait for the cluster")
	fs.StringVar(&o.PrometheusURL, "prometheus-url", "", "doctor: the Prometheus the adapter reads, reachable from here (enables the series checks)")
	fs.StringVar(&o.ExporterJob, "exporter-job", o.ExporterJob, "doctor: Prometheus job (regexp) of the exporters")
	fs.StringVar(&o.GPUNodeSelector, "gpu-node-selector", o.GPUNodeSelector, "doctor: label selector of more GPU nodes (nodes reporting nvidia.com/gpu capacity always count)")
	fs.IntVar(&o.FlapThreshold, "flap-threshold", o.FlapThreshold, "doctor: replica changes per hour per HPA above which scaling is called flapping")
	fs.BoolVar(&o.Debug, "debug", false, "print Helm's debug log")
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "usage: deploy-auto-scaling --action %s [flags]\n", strings.Join(operator.Actions, "|"))
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v (run with -h for the flags)", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q: every option is a flag, e.g. --action deploy", errUsage, fs.Arg(0))
	}
	o.Values, o.Sets = values, sets
	return &o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err == nil {
		err = operator.Run(ctx, o, stdout, stderr)
	}
	var failed *operator.ActionFailed
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &failed):
		if failed.Msg != "" {
			fmt.Fprintf(stderr, "deploy-auto-scaling: %s\n", failed.Msg)
		}
		return exitFailed
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "deploy-auto-scaling: %s\n", textfmt.OneLine(strings.TrimPrefix(err.Error(), errUsage.Error()+": ")))
		return exitUsage
	case operator.IsUsage(err):
		fmt.Fprintf(stderr, "deploy-auto-scaling: %s\n", textfmt.OneLine(err.Error()))
		return exitUsage
	default:
		fmt.Fprintf(stderr, "deploy-auto-scaling: %s\n", textfmt.OneLine(err.Error()))
		return exitFailed
	}
}
