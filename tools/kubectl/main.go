// Command kubectl is the project's pinned kubectl, built from k8s.io/kubectl at
// the version go.mod requires, so tests never depend on a kubectl that happens
// to be installed on the machine.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		// kubectl's own error handler has already printed the error.
		util.CheckErr(err)
	}
}
