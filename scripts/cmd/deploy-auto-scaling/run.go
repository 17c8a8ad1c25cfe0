package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/url"
	"strings"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/textfmt"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/medical-kg/gpu-autoscaling/internal/cluster"
	"github.com/medical-kg/gpu-autoscaling/internal/deploy"
	"github.com/medical-kg/gpu-autoscaling/internal/doctor"
	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// usageError is a problem with what was asked: reported in one line, exit 2.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type options struct {
	action          string
	values          stringList
	sets            stringList
	namespace       string
	release         string
	chart           string
	kubeconfig      string
	kubeContext     string
	timeout         time.Duration
	prometheusURL   string
	exporterJob     string
	gpuNodeSelector string
	flapThreshold   int
	debug           bool
}

var actions = []string{"deploy", "status", "undeploy", "doctor"}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("deploy-auto-scaling", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.action, "action", "", "one of "+strings.Join(actions, ", ")+" (required)")
	fs.Var(&o.values, "values", "values file for deploy (repeatable; later files win)")
	fs.Var(&o.values, "f", "shorthand for --values")
	fs.Var(&o.sets, "set", "key=value override for deploy (repeatable; Helm --set syntax)")
	fs.StringVar(&o.namespace, "namespace", contract.DefaultNamespace, "namespace of the release (created by deploy if absent)")
	fs.StringVar(&o.namespace, "n", contract.DefaultNamespace, "shorthand for --namespace")
	fs.StringVar(&o.release, "release", contract.DefaultRelease, "Helm release name")
	fs.StringVar(&o.chart, "chart", contract.DefaultChart, "chart path (relative to the working directory or the repository root)")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&o.kubeContext, "context", "", "kubeconfig context (default: the current context)")
	fs.DurationVar(&o.timeout, "timeout", contract.DefaultTimeout, "how long deploy/undeploy wait for the cluster")
	fs.StringVar(&o.prometheusURL, "prometheus-url", "", "doctor: the Prometheus the adapter reads, reachable from here (enables the series checks)")
	fs.StringVar(&o.exporterJob, "exporter-job", doctor.DefaultExporterJob, "doctor: Prometheus job (regexp) of the exporters")
	fs.StringVar(&o.gpuNodeSelector, "gpu-node-selector", doctor.DefaultGPUNodeSelector, "doctor: label selector of GPU nodes")
	fs.IntVar(&o.flapThreshold, "flap-threshold", doctor.DefaultFlapThreshold, "doctor: replica changes per hour per HPA above which scaling is called flapping")
	fs.BoolVar(&o.debug, "debug", false, "print Helm's debug log")
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "usage: deploy-auto-scaling --action %s [flags]\n", strings.Join(actions, "|"))
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, usagef("%v (run with -h for the flags)", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q: every option is a flag, e.g. --action deploy", fs.Arg(0))
	}
	return o, o.validate()
}

func (o *options) validate() error {
	valid := false
	for _, a := range actions {
		valid = valid || o.action == a
	}
	if o.action == "" {
		return usagef("--action is required: one of %s", strings.Join(actions, ", "))
	}
	if !valid {
		return usagef("--action %q is not one of %s", o.action, strings.Join(actions, ", "))
	}
	if o.action != "deploy" && (len(o.values) > 0 || len(o.sets) > 0) {
		return usagef("--values and --set only apply to --action deploy")
	}
	if o.timeout <= 0 {
		return usagef("--timeout must be positive, e.g. --timeout 5m")
	}
	if err := deploy.ValidateNamespace(o.namespace); err != nil {
		return usageError{err}
	}
	if o.release == "" {
		return usagef("--release must not be empty")
	}
	if o.prometheusURL != "" {
		u, err := url.Parse(o.prometheusURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--prometheus-url %q: expected http(s)://host:port", o.prometheusURL)
		}
	}
	if _, err := labels.Parse(o.gpuNodeSelector); err != nil {
		return usagef("--gpu-node-selector %q: %v", o.gpuNodeSelector, err)
	}
	if o.flapThreshold < 1 {
		return usagef("--flap-threshold must be at least 1")
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err == nil {
		err = dispatch(ctx, o, stdout, stderr)
	}
	var failed actionFailed
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &failed):
		if failed.msg != "" {
			fmt.Fprintf(stderr, "deploy-auto-scaling: %s\n", failed.msg)
		}
		return exitFailed
	case isUsage(err):
		fmt.Fprintf(stderr, "deploy-auto-scaling: %s\n", textfmt.OneLine(err.Error()))
		return exitUsage
	default:
		fmt.Fprintf(stderr, "deploy-auto-scaling: %s\n", textfmt.OneLine(err.Error()))
		return exitFailed
	}
}

// actionFailed: the action ran and reported a failure already printed (or msg).
type actionFailed struct{ msg string }

func (a actionFailed) Error() string { return a.msg }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u) || errors.Is(err, deploy.ErrInvalidInput) || errors.Is(err, cluster.ErrUnreachable)
}

func dispatch(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	var helmLog func(string, ...any)
	if o.debug {
		l := log.New(stderr, "helm: ", 0)
		helmLog = l.Printf
	}
	// Validate and render before touching the cluster.
	var plan *deploy.Plan
	if o.action == "deploy" {
		p, err := deploy.Prepare(deploy.Options{
			Release: o.release, Namespace: o.namespace, Chart: o.chart,
			ValueFiles: o.values, Set: o.sets, Timeout: o.timeout, Log: helmLog,
		})
		if err != nil {
			return err
		}
		plan = p
	}
	clients, err := cluster.Connect(ctx, cluster.Options{Kubeconfig: o.kubeconfig, Context: o.kubeContext, Namespace: o.namespace})
	if err != nil {
		return err
	}
	switch o.action {
	case "deploy":
		return runDeploy(ctx, o, clients, plan, stdout)
	case "status":
		return runStatus(ctx, o, clients, stdout)
	case "undeploy":
		return runUndeploy(ctx, o, clients, stdout)
	case "doctor":
		return runDoctor(ctx, o, clients, stdout)
	}
	return usagef("unknown action %q", o.action)
}

// next renders a follow-up command with the same cluster and release flags.
func (o *options) next(action string) string {
	parts := []string{"deploy-auto-scaling", "--action", action}
	if o.namespace != contract.DefaultNamespace {
		parts = append(parts, "--namespace", o.namespace)
	}
	if o.release != contract.DefaultRelease {
		parts = append(parts, "--release", o.release)
	}
	if o.kubeconfig != "" {
		parts = append(parts, "--kubeconfig", o.kubeconfig)
	}
	if o.kubeContext != "" {
		parts = append(parts, "--context", o.kubeContext)
	}
	if action == "doctor" && o.prometheusURL != "" {
		parts = append(parts, "--prometheus-url", o.prometheusURL)
	}
	return strings.Join(parts, " ")
}

func runDeploy(ctx context.Context, o *options, c *cluster.Clients, plan *deploy.Plan, w io.Writer) error {
	fmt.Fprintf(w, "deploying chart %s as release %s into namespace %s on %s (%s), waiting up to %s\n",
		plan.ChartPath, plan.Release, plan.Namespace, c.REST.Host, c.ServerVersion, plan.Timeout)
	res, err := deploy.Deploy(ctx, c, plan)
	if err != nil {
		return err
	}
	verb := "upgraded"
	if res.Installed {
		verb = "installed"
	}
	rel := res.Release
	fmt.Fprintf(w, "release %s %s in namespace %s: revision %d, chart %s-%s, status %s\n",
		rel.Name, verb, rel.Namespace, rel.Version, rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Info.Status)
	if res.CreatedNamespace {
		fmt.Fprintf(w, "created namespace %s\n", plan.Namespace)
	}
	fmt.Fprintf(w, "objects (%d):\n", len(res.Objects))
	for _, obj := range res.Objects {
		fmt.Fprintf(w, "  %s\n", obj)
	}
	allAvailable := true
	if len(res.APIServices) > 0 {
		fmt.Fprintln(w, "APIServices:")
		for _, s := range res.APIServices {
			state := "Available"
			if !s.Available {
				state = fmt.Sprintf("not Available yet (%s: %s)", s.Reason, textfmt.OneLine(s.Message))
				allAvailable = false
			}
			fmt.Fprintf(w, "  %s %s\n", s.Name, state)
		}
	}
	if !allAvailable {
		fmt.Fprintf(w, "the custom metrics API is not serving yet; the adapter may still be starting — diagnose with:\n  %s\n", o.next("doctor"))
	}
	fmt.Fprintf(w, "next:\n  %s\n  %s\n", o.next("status"), o.next("doctor"))
	return nil
}

func runStatus(ctx context.Context, o *options, c *cluster.Clients, w io.Writer) error {
	rel, err := deploy.Status(c, o.release, o.namespace)
	if err != nil {
		return actionFailed{msg: fmt.Sprintf("%v; deploy it with: %s", err, o.next("deploy"))}
	}
	fmt.Fprintf(w, "release %s in %s: revision %d, chart %s-%s (app %s), status %s, last deployed %s\n",
		rel.Name, rel.Namespace, rel.Version, rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Chart.Metadata.AppVersion,
		rel.Info.Status, rel.Info.LastDeployed.UTC().Format(time.RFC3339))
	states := deploy.APIServiceStates(ctx, c, append(contract.CustomMetricsAPIServices(), contract.ResourceMetricsAPIService))
	fmt.Fprintln(w, "metrics APIs:")
	for _, s := range states {
		state := "Available"
		if !s.Available {
			state = fmt.Sprintf("NOT available (%s: %s)", s.Reason, textfmt.OneLine(s.Message))
		}
		fmt.Fprintf(w, "  %s %s\n", s.Name, state)
	}
	hpas, err := hpastatus.Collect(ctx, c.Kube, o.namespace)
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := hpastatus.Render(w, hpas, time.Now()); err != nil {
		return err
	}
	if rel.Info.Status.String() != "deployed" {
		return actionFailed{msg: fmt.Sprintf("release %s is %s, not deployed", rel.Name, rel.Info.Status)}
	}
	return nil
}

func runUndeploy(ctx context.Context, o *options, c *cluster.Clients, w io.Writer) error {
	res, err := deploy.Undeploy(ctx, c, o.release, o.namespace, o.timeout)
	if err != nil {
		return err
	}
	if res.Found {
		fmt.Fprintf(w, "release %s uninstalled from namespace %s\n", o.release, o.namespace)
	} else {
		fmt.Fprintf(w, "release %s not found in namespace %s; nothing to uninstall\n", o.release, o.namespace)
	}
	if len(res.Leftovers) > 0 {
		fmt.Fprintln(w, "cluster-scoped objects still labelled for the release:")
		for _, l := range res.Leftovers {
			fmt.Fprintf(w, "  %s\n", l)
		}
		return actionFailed{msg: fmt.Sprintf("%d cluster-scoped objects left behind; delete them (kubectl delete apiservice|clusterrole|clusterrolebinding NAME) — a stale APIService breaks discovery cluster-wide", len(res.Leftovers))}
	}
	fmt.Fprintln(w, "no APIServices, ClusterRoles or ClusterRoleBindings of the release are left")
	return nil
}

func runDoctor(ctx context.Context, o *options, c *cluster.Clients, w io.Writer) error {
	cfg := doctor.Config{
		Namespace: o.namespace, Release: o.release,
		Kube: c.Kube, Aggregator: c.Aggregator, CustomMetrics: c.CustomMetrics,
		ExporterJob: o.exporterJob, GPUNodeSelector: o.gpuNodeSelector, FlapThreshold: o.flapThreshold,
	}
	if o.prometheusURL != "" {
		client, err := promapi.NewClient(promapi.Config{Address: o.prometheusURL})
		if err != nil {
			return usagef("--prometheus-url %s: %v", o.prometheusURL, err)
		}
		cfg.Prometheus = promv1.NewAPI(client)
		cfg.PrometheusURL = o.prometheusURL
	}
	checks, err := doctor.Run(ctx, cfg)
	if rerr := doctor.Render(w, checks); rerr != nil {
		return rerr
	}
	if err != nil {
		return err
	}
	if doctor.Failed(checks) {
		return actionFailed{msg: fmt.Sprintf("%d checks failed; apply the fixes above and run: %s", doctor.Count(checks)[doctor.Fail], o.next("doctor"))}
	}
	return nil
}
