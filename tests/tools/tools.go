//go:build tools

// Package tools pins the control-plane binaries built by scripts/build-control-plane
// so that `go mod tidy` keeps their dependencies in go.mod.
package tools

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
