// Command sandbox starts, stops and reports on the project's embedded
// Kubernetes cluster (see tests/README.md):
//
//	sandbox up     [--dir DIR] [--nodes N] [--hpa-sync-period D] [--hpa-downscale-stabilization D] [--scrape-interval D]
//	sandbox status [--dir DIR] [--json]
//	sandbox down   [--dir DIR]
//
// State (certificates, kubeconfig, etcd data, logs, PIDs) lives in one folder,
// by default <repo>/.sandbox. `up` leaves the processes running and prints how
// to use the cluster; `down` stops them by PID, in parallel.
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
	"text/tabwriter"
	"time"

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
          kwok (fake GPU nodes), metrics-server and Prometheus; leave them running
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
		nodes := fs.Int("nodes", 2, "number of fake GPU nodes (8 GPUs each)")
		sync := fs.Duration("hpa-sync-period", 15*time.Second, "kube-controller-manager --horizontal-pod-autoscaler-sync-period")
		stab := fs.Duration("hpa-downscale-stabilization", 5*time.Minute, "kube-controller-manager --horizontal-pod-autoscaler-downscale-stabilization")
		scrape := fs.Duration("scrape-interval", 15*time.Second, "Prometheus global scrape interval")
		timeout := fs.Duration("timeout", 3*time.Minute, "give up when the cluster is not ready after this long")
		chart := fs.Bool("chart", false, "also install the chart (values/sandbox.yaml) and the stand-in GPU services, run the adapter and one exporter per node, and stay in the foreground until Ctrl-C (then stop everything)")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		sb, err := sandbox.New(sandbox.Options{Dir: *dir, GPUNodes: *nodes, HPASyncPeriod: *sync,
			HPADownscaleStabilization: *stab, ScrapeInterval: *scrape,
			Logf: func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }})
		if err != nil {
			return err
		}
		upCtx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		if err := sb.Up(upCtx); err != nil {
			return fmt.Errorf("up: %w", err)
		}
		if *chart {
			return foreground(ctx, upCtx, sb, stdout, stderr)
		}
		fmt.Fprintf(stdout, "sandbox up in %s\n  export KUBECONFIG=%s\n  prometheus: %s\n  logs: %s\n  stop: go run ./scripts/cmd/sandbox down --dir %s\n",
			sb.ColdStart(), sb.Kubeconfig(), sb.PrometheusURL(), filepath.Join(sb.Dir(), "logs"), sb.Dir())
		return nil
	case "down":
		if err := fs.Parse(rest); err != nil {
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
	case "status":
		asJSON := fs.Bool("json", false, "print the status as JSON")
		if err := fs.Parse(rest); err != nil {
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
		printStatus(stdout, st)
		if !st.APIReady {
			return errors.New("the API server is not ready")
		}
		return nil
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		fmt.Fprintln(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// foreground installs the GPU plane and keeps this process alive: the fake
// kubelets (pod-resources servers) and the load loop live in it.
func foreground(ctx, upCtx context.Context, sb *sandbox.Sandbox, stdout, stderr io.Writer) (err error) {
	defer func() {
		if downErr := sb.Down(context.Background()); downErr != nil {
			err = errors.Join(err, downErr)
		}
	}()
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	plane, err := sb.InstallGPUPlane(upCtx, sandbox.NewReporter("sandbox", logf), sandbox.ChartOptions{})
	if err != nil {
		return fmt.Errorf("install the chart: %w (logs in %s)", err, filepath.Join(sb.Dir(), "logs"))
	}
	defer plane.Close()
	fmt.Fprintf(stdout, "sandbox up with the chart in %s\n  export KUBECONFIG=%s\n  prometheus: %s\n  adapter: https://127.0.0.1:%d (custom.metrics.k8s.io)\n  logs: %s\n  Ctrl-C stops everything\n",
		sb.ColdStart(), sb.Kubeconfig(), sb.PrometheusURL(), plane.AdapterPort(), filepath.Join(sb.Dir(), "logs"))
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	return nil
}

func printStatus(w io.Writer, st sandbox.Status) {
	fmt.Fprintf(w, "state:       %s\nkubeconfig:  %s\napi server:  %s (ready: %t)\nprometheus:  %s\n",
		st.Dir, st.Kubeconfig, st.Server, st.APIReady, st.Prometheus)
	if st.APIError != "" {
		fmt.Fprintf(w, "api error:   %s\n", st.APIError)
	}
	if st.ColdStart != "" {
		fmt.Fprintf(w, "cold start:  %s\n", st.ColdStart)
	}
	fmt.Fprintf(w, "ready nodes: %v\n", st.ReadyNodes)
	for name, ok := range st.APIService {
		fmt.Fprintf(w, "apiservice:  %s available=%t\n", name, ok)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROCESS\tPID\tRUNNING\tLOG")
	for _, p := range st.Processes {
		fmt.Fprintf(tw, "%s\t%d\t%t\t%s\n", p.Name, p.PID, p.Running, p.Log)
	}
	tw.Flush()
}
