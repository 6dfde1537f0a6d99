// Package e2e holds the end-to-end tests. They run against a real etcd +
// kube-apiserver built from source (scripts/build-control-plane), brought up
// once for the whole run by TestMain and torn down afterwards.
//
//	cd tests && go test ./e2e/... -count=1 -v     (or scripts/e2e)
//
// CSM_E2E_KEEP_CLUSTER=1 leaves the cluster running afterwards; CSM_EXPORTER
// names the exporter binary (default build/src/crd-state-metrics).
//
// Tests that call t.Parallel() (most resilience tests: each has its own CRD,
// proxy and exporter, and they mostly wait) run together after the serial ones.
// Unless -parallel is given, up to 16 run at once whatever GOMAXPROCS is.
package e2e

import (
	"flag"
	"os"
	"testing"

	"crd-state-metrics/tests/e2e/cluster"
)

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "16")
	}
	// The scrape storm's load process (TestHostileStormScrapers) is this
	// binary run again by TestHostileScraperStorm: it needs no cluster, and
	// must not restart the one its parent uses.
	if os.Getenv("CSM_STORM_SCRAPE_URL") != "" {
		os.Exit(m.Run())
	}
	cluster.Main(m)
}
