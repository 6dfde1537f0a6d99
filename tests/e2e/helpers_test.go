package e2e

import (
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func clientv3WithRev(rv string) clientv3.OpOption {
	rev, _ := strconv.ParseInt(rv, 10, 64)
	return clientv3.WithRev(rev)
}

func runtimeFromUnstructured(u *unstructured.Unstructured, out any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out)
}
