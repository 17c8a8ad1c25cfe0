// Command etcd is the sandbox's etcd: the pinned go.etcd.io/etcd/server/v3 entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
