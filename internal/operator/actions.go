// Package operator runs the actions of `deploy-auto-scaling` (deploy, status,
// undeploy, doctor) on the Helm SDK and client-go and prints their reports;
// the command only parses flags and maps the errors to exit codes.
//
// Errors: IsUsage(err) means the input was wrong and nothing was changed
// (exit 2); an *ActionFailed means the action ran and found or caused a
// failure, already reported (exit 1).
package operator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/cluster"
	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/deploy"
	"github.com/medical-kg/gpu-autoscaling/internal/doctor"
	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
	"github.com/medical-kg/gpu-autoscaling/internal/textfmt"
)

// Run validates the options, renders the chart for deploy before touching
// the cluster, connects, and runs the action.
func Run(ctx context.Context, o *Options, stdout, stderr io.Writer) error {
	if err := o.Validate(); err != nil {
		return err
	}
	var helmLog func(string, ...any)
	if o.Debug {
		l := log.New(stderr, "helm: ", 0)
		helmLog = l.Printf
	}
	// Validate and render before touching the cluster.
	var plan *deploy.Plan
	if o.Action == "deploy" {
		p, err := deploy.Prepare(deploy.Options{
			Release: o.Release, Namespace: o.Namespace, Chart: o.Chart, Source: o.ChartSource,
			ValueFiles: o.Values, Set: o.Sets, SetString: o.SetStrings, SetFile: o.SetFiles, Timeout: o.Timeout, Log: helmLog,
		})
		if err != nil {
			return err
		}
		plan = p
	}
	// --timeout bounds every request (the Helm SDK's too) and the
	// reachability probe; status and doctor also get it as their deadline.
	// Deploy and undeploy leave the waiting to Helm, which honours Timeout
	// and needs time after it to roll an atomic upgrade back.
	clients, err := cluster.Connect(ctx, cluster.Options{
		Kubeconfig: o.Kubeconfig, Context: o.Context, Namespace: o.Namespace,
		ReachTimeout: min(o.Timeout, cluster.DefaultReachTimeout), RequestTimeout: o.Timeout,
	})
	if err != nil {
		return err
	}
	switch o.Action {
	case "deploy":
		return runDeploy(ctx, o, clients, plan, stdout)
	case "undeploy":
		return runUndeploy(ctx, o, clients, stdout)
	}
	actx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	switch o.Action {
	case "status":
		err = runStatus(actx, o, clients, stdout)
	case "doctor":
		err = runDoctor(actx, o, clients, stdout)
	default:
		return usagef("unknown action %q", o.Action)
	}
	if err != nil && ctx.Err() == nil && (expired(actx) || isTimeout(err)) {
		var failed *ActionFailed
		if !errors.As(err, &failed) || failed.Msg != "" {
			return &ActionFailed{Msg: fmt.Sprintf("%s did not finish within --timeout %s (raise --timeout if the cluster is slow): %v", o.Action, o.Timeout, err)}
		}
	}
	return err
}

// isTimeout reports whether err is a deadline or a request timeout. The
// request timeout (--timeout too) can fire just before the action's context
// notices its deadline.
func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout())
}

// expired reports whether ctx's deadline has passed, even if its timer has
// not fired yet.
func expired(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ctx.Err() != nil || (ok && !time.Now().Before(dl))
}

func runDeploy(ctx context.Context, o *Options, c *cluster.Clients, plan *deploy.Plan, w io.Writer) error {
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
		fmt.Fprintf(w, "the custom metrics API is not serving yet; the adapter may still be starting — diagnose with:\n  %s\n", o.Next("doctor"))
	}
	fmt.Fprintf(w, "next:\n  %s\n  %s\n", o.Next("status"), o.Next("doctor"))
	return nil
}

func runStatus(ctx context.Context, o *Options, c *cluster.Clients, w io.Writer) error {
	rel, err := deploy.Status(c, o.Release, o.Namespace)
	if err != nil && (expired(ctx) || isTimeout(err)) {
		return err
	}
	if err != nil {
		return &ActionFailed{Msg: fmt.Sprintf("%v; deploy it with: %s", err, o.Next("deploy"))}
	}
	states := deploy.APIServiceStates(ctx, c, append(contract.CustomMetricsAPIServices(), contract.ResourceMetricsAPIService))
	hpas, err := hpastatus.Collect(ctx, c.Kube, o.Namespace)
	if err != nil {
		return err
	}
	if o.Output == OutputJSON || o.Output == OutputYAML {
		if err := encode(w, o.Output, newStatusReport(rel, states, hpas)); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "release %s in %s: revision %d, chart %s-%s (app %s), status %s, last deployed %s\n",
			rel.Name, rel.Namespace, rel.Version, rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Chart.Metadata.AppVersion,
			rel.Info.Status, rel.Info.LastDeployed.UTC().Format(time.RFC3339))
		fmt.Fprintln(w, "metrics APIs:")
		for _, s := range states {
			state := "Available"
			if !s.Available {
				state = fmt.Sprintf("NOT available (%s: %s)", s.Reason, textfmt.OneLine(s.Message))
			}
			fmt.Fprintf(w, "  %s %s\n", s.Name, state)
		}
		fmt.Fprintln(w)
		if err := hpastatus.Render(w, hpas, time.Now()); err != nil {
			return err
		}
	}
	if rel.Info.Status.String() != "deployed" {
		return &ActionFailed{Msg: fmt.Sprintf("release %s is %s, not deployed", rel.Name, rel.Info.Status)}
	}
	return nil
}

func runUndeploy(ctx context.Context, o *Options, c *cluster.Clients, w io.Writer) error {
	res, err := deploy.Undeploy(ctx, c, o.Release, o.Namespace, o.Timeout)
	if err != nil {
		return err
	}
	if res.Found {
		fmt.Fprintf(w, "release %s uninstalled from namespace %s\n", o.Release, o.Namespace)
	} else {
		fmt.Fprintf(w, "release %s not found in namespace %s; nothing to uninstall\n", o.Release, o.Namespace)
	}
	if len(res.Leftovers) > 0 {
		fmt.Fprintln(w, "cluster-scoped objects still labelled for the release:")
		for _, l := range res.Leftovers {
			fmt.Fprintf(w, "  %s\n", l)
		}
		return &ActionFailed{Msg: fmt.Sprintf("%d cluster-scoped objects left behind; delete them (kubectl delete apiservice|clusterrole|clusterrolebinding NAME) — a stale APIService breaks discovery cluster-wide", len(res.Leftovers))}
	}
	fmt.Fprintln(w, "no APIServices, ClusterRoles or ClusterRoleBindings of the release are left")
	return nil
}

func runDoctor(ctx context.Context, o *Options, c *cluster.Clients, w io.Writer) error {
	cfg := doctor.Config{
		Namespace: o.Namespace, Release: o.Release,
		Kube: c.Kube, Aggregator: c.Aggregator, CustomMetrics: c.CustomMetrics,
		ExporterJob: o.ExporterJob, GPUNodeSelector: o.GPUNodeSelector, FlapThreshold: o.FlapThreshold,
	}
	if o.PrometheusURL != "" {
		client, err := promapi.NewClient(promapi.Config{Address: o.PrometheusURL})
		if err != nil {
			return usagef("--prometheus-url %s: %v", o.PrometheusURL, err)
		}
		cfg.Prometheus = promv1.NewAPI(client)
		cfg.PrometheusURL = o.PrometheusURL
	}
	checks, err := doctor.Run(ctx, cfg)
	var rerr error
	where := "above"
	if o.Output == OutputJSON || o.Output == OutputYAML {
		rerr = encode(w, o.Output, doctor.NewReport(checks))
		where = "in the report"
	} else {
		rerr = doctor.Render(w, checks)
	}
	if rerr != nil {
		return rerr
	}
	if err != nil {
		return err
	}
	if doctor.Failed(checks) {
		return &ActionFailed{Msg: fmt.Sprintf("%d checks failed; apply the fixes %s and run: %s", doctor.Count(checks)[doctor.Fail], where, o.Next("doctor"))}
	}
	return nil
}
