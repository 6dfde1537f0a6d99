// Package e2e holds the end-to-end tests. They run against a real etcd +
// kube-apiserver built from source (scripts/build-control-plane), brought up
// once for the whole run by TestMain and torn down afterwards.
//
//	cd tests && go test ./e2e/... -count=1 -v     (or scripts/e2e)
//
// CSM_E2E_KEEP_CLUSTER=1 leaves the cluster running afterwards; CSM_EXPORTER
// names the exporter binary (default build/src/crd-state-metrics).
package e2e

import (
	"testing"

	"crd-state-metrics/tests/e2e/cluster"
)

func TestMain(m *testing.M) { cluster.Main(m) }
