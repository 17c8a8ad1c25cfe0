// Command sandbox starts, stops and reports on the project's embedded
// Kubernetes cluster with its real node (see internal/sandbox/README.md):
//
//	sandbox up     [--dir DIR] [--chart] [--kwok-nodes N] [--kwok-only] [--hpa-sync-period D] [--hpa-downscale-stabilization D] [--scrape-interval D]
//	sandbox status [--dir DIR] [--json]
//	sandbox down   [--dir DIR]
//
// State (certificates, kubeconfig, etcd data, the node's containerd and
// kubelet folders, logs, PIDs) lives in one folder, by default
// <repo>/.sandbox. `up` leaves everything running and prints how to use the
// cluster (with --chart once the chart's pods are Ready); `down` stops it
// all and leaves the machine as it was.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/gpuplane"
	"github.com/medical-kg/gpu-autoscaling/internal/provider"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

const usage = `usage: sandbox up|down|status [flags]

  up      start etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
          metrics-server, Prometheus and the real node (kubelet, containerd,
          kube-proxy); with --chart also the chart and the stand-in services
  status  report each process and the cluster's health
  down    stop every process by PID and remove the cluster's data (logs stay)

Run 'sandbox <command> -h' for its flags.`

func defaultDir() string {
	if root, err := repo.Root(); err == nil {
		return filepath.Join(root, ".sandbox")
	}
	return ".sandbox"
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("missing command")
	}
	cmd, rest := args[0], args[1:]
	fs := flag.NewFlagSet("sandbox "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", defaultDir(), "state folder (certificates, kubeconfig, etcd data, logs, PIDs)")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "up":
		return up(ctx, fs, rest, dir, stdout, stderr)
	case "down":
		return down(ctx, fs, rest, dir, stdout)
	case "status":
		return status(ctx, fs, rest, dir, stdout)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func up(ctx context.Context, fs *flag.FlagSet, args []string, dir *string, stdout, stderr io.Writer) error {
	kwokNodes := fs.Int("kwok-nodes", 0, "number of kwok fake GPU nodes besides the real node (8 GPUs each)")
	kwokOnly := fs.Bool("kwok-only", false, "no real node: the control plane with kwok nodes only (no root needed; pods run no containers)")
	sync := fs.Duration("hpa-sync-period", 15*time.Second, "kube-controller-manager --horizontal-pod-autoscaler-sync-period")
	stab := fs.Duration("hpa-downscale-stabilization", 5*time.Minute, "kube-controller-manager --horizontal-pod-autoscaler-downscale-stabilization")
	scrape := fs.Duration("scrape-interval", 15*time.Second, "Prometheus global scrape interval")
	timeout := fs.Duration("timeout", 4*time.Minute, "give up when the cluster (and the chart) is not ready after this long")
	chart := fs.Bool("chart", false, "also install the chart (values/sandbox.yaml) and the stand-in GPU services; return once their pods are Ready")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	sb, err := sandbox.New(sandbox.Options{Dir: *dir, KwokNodes: *kwokNodes, KwokOnly: *kwokOnly, HPASyncPeriod: *sync,
		HPADownscaleStabilization: *stab, ScrapeInterval: *scrape, Logf: logf})
	if err != nil {
		return err
	}
	upCtx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := sb.Up(upCtx); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	what := "sandbox up"
	if *chart {
		plane, err := gpuplane.Install(upCtx, gpuplane.NewReporter("sandbox", logf), provider.SandboxCluster{SB: sb}, gpuplane.Options{Logf: logf})
		if err != nil {
			return fmt.Errorf("install the chart: %w (logs in %s; stop with: sandbox down --dir %s)", err, filepath.Join(sb.Dir(), "logs"), sb.Dir())
		}
		plane.Close() // the load stays idle; nothing needs this process any more
		what = "sandbox up with the chart"
	}
	fmt.Fprintf(stdout, "%s in %s\n  export KUBECONFIG=%s\n  prometheus: %s\n  logs: %s\n  stop: go run ./scripts/cmd/sandbox down --dir %s\n",
		what, sb.ColdStart(), sb.Kubeconfig(), sb.PrometheusURL(), filepath.Join(sb.Dir(), "logs"), sb.Dir())
	return nil
}

func down(ctx context.Context, fs *flag.FlagSet, args []string, dir *string, stdout io.Writer) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	sb, err := sandbox.Load(*dir)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := sb.Down(ctx); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	fmt.Fprintf(stdout, "sandbox in %s stopped in %s (logs kept in %s)\n", sb.Dir(),
		time.Since(start).Round(time.Millisecond), filepath.Join(sb.Dir(), "logs"))
	return nil
}

func status(ctx context.Context, fs *flag.FlagSet, args []string, dir *string, stdout io.Writer) error {
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sb, err := sandbox.Load(*dir)
	if err != nil {
		return err
	}
	st := sb.Status(ctx)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	if err := st.Render(stdout); err != nil {
		return err
	}
	if !st.APIReady {
		return errors.New("the API server is not ready")
	}
	return nil
}
