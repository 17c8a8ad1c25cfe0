// Command demo is `make demo`, the project's main job shown end to end on the
// embedded sandbox: it starts the cluster, installs the chart with
// values/sandbox.yaml and the stand-in GPU services, plays a load scenario
// (embedding and reranking GPU utilization ramp up, docling-vlm's GPU memory
// grows, the management service's cpu follows, then everything falls),
// prints a live line per HPA sync, ends with a summary table and a PNG plot
// of load against replicas, runs doctor, and tears everything down.
//
//	demo [--out DIR] [--dir DIR] [--keep] [--scenario-speed F] [--timeout D]
//
// Exit codes: 0 every service scaled up and back down exactly as its load
// implied and doctor found no failure; 1 a service did not (or doctor
// failed); 2 bad flags or missing prerequisites (cluster binaries: `make
// cluster-tools`); 130 interrupted (the sandbox is torn down first).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
