// Command etcd is a thin wrapper around etcd's own main, built from the etcd
// version that the pinned Kubernetes release uses (see go.mod).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
