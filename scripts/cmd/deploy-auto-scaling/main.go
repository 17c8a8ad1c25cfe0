// Command deploy-auto-scaling deploys, inspects, diagnoses and removes the
// gpu-autoscaling Helm release — the Go successor of the seed's
// scripts/deploy_auto_scaling.py, built on the Helm v3 SDK and client-go.
//
//	deploy-auto-scaling --action deploy   [--values FILE]... [--set k=v]... [--set-string k=v]... [--set-file k=path]...
//	deploy-auto-scaling --action status   [-o table|json|yaml]
//	deploy-auto-scaling --action doctor   [--prometheus-url URL] [-o table|json|yaml]
//	deploy-auto-scaling --action undeploy
//	deploy-auto-scaling completion bash|zsh|fish|powershell
//	deploy-auto-scaling --version
//
// Exit codes: 0 success; 1 the action ran and found or caused a failure
// (a failing doctor check, a rolled-back deploy, leftovers after undeploy);
// 2 bad flags, an unreachable cluster, a missing chart or invalid values —
// nothing was changed.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
