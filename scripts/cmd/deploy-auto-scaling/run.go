package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/medical-kg/gpu-autoscaling/internal/operator"
	"github.com/medical-kg/gpu-autoscaling/internal/textfmt"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// errUsage marks flag-parsing problems (exit 2).
var errUsage = errors.New("usage")

// helmNamespaceEnv overrides the kubeconfig context's namespace, as for helm.
const helmNamespaceEnv = "HELM_NAMESPACE"

// newCommand builds the command line: cobra and pflag for the flags, shell
// completion (`completion bash|zsh|fish|powershell`) and --version,
// genericclioptions.ConfigFlags for --kubeconfig, --context and
// -n/--namespace. Parsing fills *o; getenv reads $HELM_NAMESPACE.
func newCommand(o *operator.Options, getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	str := func(s string) *string { return &s }
	kube := &genericclioptions.ConfigFlags{KubeConfig: str(""), Context: str(""), Namespace: str("")}
	cmd := &cobra.Command{
		Use:   "deploy-auto-scaling --action " + strings.Join(operator.Actions, "|") + " [flags]",
		Short: "Deploy, inspect, diagnose and remove the gpu-autoscaling Helm release",
		Long: `Deploy, inspect, diagnose and remove the gpu-autoscaling Helm release.

Exit codes: 0 success; 1 the action ran and found or caused a failure (a
failing doctor check, a rolled-back deploy, leftovers after undeploy); 2 bad
flags, an unreachable cluster, a missing chart or invalid values — nothing
was changed.

The namespace is --namespace when given, else $HELM_NAMESPACE, else the
kubeconfig context's namespace, else medical-kg.`,
		Version:       operator.Version(debug.ReadBuildInfo()),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: unexpected argument %q: every option is a flag, e.g. --action deploy", errUsage, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			if fs.Changed("kube-context") && fs.Changed("context") && o.Context != *kube.Context {
				return fmt.Errorf("%w: --context %q and --kube-context %q disagree; pass one of them", errUsage, *kube.Context, o.Context)
			}
			if fs.Changed("kube-context") {
				*kube.Context = o.Context
			}
			o.Kubeconfig, o.Context = *kube.KubeConfig, *kube.Context
			o.Namespace, o.NamespaceSource = operator.ResolveNamespace(*kube.Namespace, fs.Changed("namespace"), getenv(helmNamespaceEnv), o.Kubeconfig, o.Context)
			return operator.Run(cmd.Context(), o, stdout, stderr)
		},
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetVersionTemplate("deploy-auto-scaling {{.Version}}\n")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return fmt.Errorf("%w: %v (run with -h for the flags)", errUsage, err)
	})
	cmd.CompletionOptions.HiddenDefaultCmd = false

	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVar(&o.Action, "action", "", "one of "+strings.Join(operator.Actions, ", ")+" (required)")
	fs.StringArrayVarP(&o.Values, "values", "f", nil, "values file for deploy (repeatable; later files win)")
	fs.StringArrayVar(&o.Sets, "set", nil, "key=value override for deploy (repeatable; Helm --set syntax: 1, true and null become a number, a boolean and null)")
	fs.StringArrayVar(&o.SetStrings, "set-string", nil, "key=value override for deploy whose value stays a string (repeatable)")
	fs.StringArrayVar(&o.SetFiles, "set-file", nil, "key=path override for deploy: the value is the file's content (repeatable)")
	kube.AddFlags(fs)
	fs.Lookup("kubeconfig").Usage = "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
	fs.Lookup("context").Usage = "kubeconfig context (default: the current context)"
	fs.StringVar(&o.Context, "kube-context", "", "the same as --context (helm's name)")
	fs.Lookup("namespace").Usage = "namespace of the release, created by deploy if absent (default: $" + helmNamespaceEnv + ", else the kubeconfig context's namespace, else medical-kg)"
	fs.StringVar(&o.Release, "release", o.Release, "Helm release name")
	fs.StringVar(&o.Chart, "chart", o.Chart, "chart: a path (relative to the working directory or the repository root), an oci:// reference, an archive URL, or a chart name with --repo")
	fs.StringVar(&o.ChartSource.Version, "chart-version", "", "deploy: version (or SemVer constraint) of an oci:// or --repo chart, as helm's --version (default: the newest; --version prints this tool's)")
	fs.StringVar(&o.ChartSource.RepoURL, "repo", "", "deploy: chart repository URL (its index.yaml) holding --chart")
	fs.BoolVar(&o.ChartSource.PlainHTTP, "plain-http", false, "deploy: talk to the OCI registry of --chart over plain HTTP")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "bound of every cluster request and of status and doctor; how long deploy/undeploy wait for the cluster")
	fs.StringVarP(&o.Output, "output", "o", operator.OutputTable, "status and doctor: output format, one of "+strings.Join(operator.Outputs, ", "))
	fs.StringVar(&o.PrometheusURL, "prometheus-url", "", "doctor: the Prometheus the adapter reads, reachable from here (enables the series checks)")
	fs.StringVar(&o.ExporterJob, "exporter-job", o.ExporterJob, "doctor: Prometheus job (regexp) of the exporters")
	fs.StringVar(&o.GPUNodeSelector, "gpu-node-selector", o.GPUNodeSelector, "doctor: label selector of more GPU nodes (nodes reporting nvidia.com/gpu capacity always count)")
	fs.IntVar(&o.FlapThreshold, "flap-threshold", o.FlapThreshold, "doctor: replica changes per hour per HPA above which scaling is called flapping")
	fs.BoolVar(&o.Debug, "debug", false, "print Helm's debug log")

	fixed := func(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
	}
	_ = cmd.RegisterFlagCompletionFunc("action", fixed(operator.Actions...))
	_ = cmd.RegisterFlagCompletionFunc("output", fixed(operator.Outputs...))
	contexts := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return kubeContexts(*kube.KubeConfig), cobra.ShellCompDirectiveNoFileComp
	}
	_ = cmd.RegisterFlagCompletionFunc("context", contexts)
	_ = cmd.RegisterFlagCompletionFunc("kube-context", contexts)
	_ = fs.SetAnnotation("values", cobra.BashCompFilenameExt, []string{"yaml", "yml"})
	_ = fs.SetAnnotation("chart", cobra.BashCompSubdirsInDir, []string{})
	return cmd
}

// refuseUnknownShells makes `completion <shell>` fail for a shell cobra
// does not generate for: cobra's own completion command prints its help and
// exits 0, so a typo in a user's dotfile went unnoticed. Cobra adds the
// command to a program without other subcommands only when args call it.
func refuseUnknownShells(root *cobra.Command, args []string) {
	root.InitDefaultCompletionCmd(args...)
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		var shells []string
		for _, sub := range c.Commands() {
			shells = append(shells, sub.Name())
		}
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			return fmt.Errorf("%w: completion: unknown shell %q: use one of %s", errUsage, args[0], strings.Join(shells, ", "))
		}
	}
}

// kubeContexts lists the contexts of the kubeconfig, for completion.
func kubeContexts(kubeconfig string) []string {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	raw, err := rules.Load()
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(raw.Contexts))
	for name := range raw.Contexts {
		out = append(out, name)
	}
	return out
}

// run parses args, runs the action and maps its error to an exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o := operator.DefaultOptions()
	cmd := newCommand(&o, getenv, stdout, stderr)
	if args == nil {
		args = []string{} // cobra reads os.Args for nil
	}
	cmd.SetArgs(args)
	refuseUnknownShells(cmd, args)
	err := cmd.ExecuteContext(ctx)
	var failed *operator.ActionFailed
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &failed):
		if failed.Msg != "" {
			fmt.Fprintf(stderr, "deploy-auto-scaling: %s\n", textfmt.OneLine(failed.Msg))
		}
		return exitFailed
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "deploy-auto-scaling: %s\n", textfmt.OneLine(strings.TrimPrefix(err.Error(), errUsage.Error()+": ")))
		return exitUsage
	case operator.IsUsage(err) || isCobraUsage(err):
		fmt.Fprintf(stderr, "deploy-auto-scaling: %s\n", textfmt.OneLine(err.Error()))
		return exitUsage
	default:
		fmt.Fprintf(stderr, "deploy-auto-scaling: %s\n", textfmt.OneLine(err.Error()))
		return exitFailed
	}
}

// isCobraUsage recognises the errors cobra returns before RunE: an unknown
// shell for `completion`, arguments a subcommand does not take.
func isCobraUsage(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unknown command") || strings.Contains(msg, "accepts ") || strings.Contains(msg, "invalid argument")
}
