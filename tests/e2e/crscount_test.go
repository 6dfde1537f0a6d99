package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
)

// Issue 13: a `type: Count` metric in the Custom Resource State config (an
// extension, kube-state-metrics #2238) serves one series per combination of
// its labels with the number of objects that have it, exact after creates,
// an update that moves an object to another combination, deletes (a
// combination with no object left disappears), and the CRD's deletion and
// re-creation. A second Count capped at maxSeries: 2 exports only the first
// two combinations in label order; the Count series are charged to the
// series budget (--max-series-per-resource); --metric-denylist applies.
// Every body goes through promtool.
func TestCRSCount(t *testing.T) {
	c := cluster.Get(t)
	cache := cluster.CRDSpec{Group: "count.example.com", Version: "v1", Kind: "Cache", Namespaced: true}
	c.EnsureNamespace(t, "cnt-a")
	c.EnsureNamespace(t, "cnt-b")
	c.EnsureCRD(t, cache)
	c.DeleteAllObjects(t, cache)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(`kind: CustomResourceStateMetrics
spec:
  resources:
    - groupVersionKind: {group: count.example.com, version: v1, kind: Cache}
      metricNamePrefix: cache
      metrics:
        - name: by_plan
          help: Caches per namespace and plan.
          labelsFromPath: {namespace: [metadata, namespace], plan: [spec, plan]}
          each: {type: Count}
        - name: by_name
          help: Caches per name, capped.
          labelsFromPath: {name: [metadata, name]}
          each: {type: Count, count: {maxSeries: 2}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	e := exporter.Start(t, exporter.Options{Kubeconfig: c.Kubeconfig, Args: []string{"--config", cfg}})
	// The metric filter applies to Count families like to any other.
	denied := exporter.Start(t, exporter.Options{Kubeconfig: c.Kubeconfig,
		Args: []string{"--config", cfg, "--metric-denylist", "cache_by_name"}})
	// The Count series are charged to the series budget: 4 + 2 do not fit
	// in 5, so none is written until deletes bring them down to 4.
	budget := exporter.Start(t, exporter.Options{Kubeconfig: c.Kubeconfig,
		Args: []string{"--config", cfg, "--max-series-per-resource", "5"}})
	bc := &bodyChecker{t: t, linted: map[[32]byte]bool{}}
	const gvk = `customresource_group="count.example.com",customresource_kind="Cache",customresource_version="v1"`
	// check waits for the exact body: counts is "namespace/plan=n" (plan
	// "" for none), names the objects' names.
	checkOn := func(ex *exporter.Exporter, what string, counts []string, names []string) {
		t.Helper()
		var b strings.Builder
		if len(counts) > 0 {
			b.WriteString("# HELP cache_by_plan Caches per namespace and plan.\n# TYPE cache_by_plan gauge\n")
		}
		for _, s := range counts {
			key, n, _ := strings.Cut(s, "=")
			ns, plan, _ := strings.Cut(key, "/")
			if plan == "" {
				fmt.Fprintf(&b, "cache_by_plan{%s,namespace=%q} %s\n", gvk, ns, n)
			} else {
				fmt.Fprintf(&b, "cache_by_plan{%s,namespace=%q,plan=%q} %s\n", gvk, ns, plan, n)
			}
		}
		sort.Strings(names)
		if len(names) > 2 {
			names = names[:2] // maxSeries: the first two in label order
		}
		if len(names) > 0 {
			b.WriteString("# HELP cache_by_name Caches per name, capped.\n# TYPE cache_by_name gauge\n")
		}
		for _, n := range names {
			fmt.Fprintf(&b, "cache_by_name{%s,name=%q} 1\n", gvk, n)
		}
		waitForBody(t, ex, bc, what, b.String())
	}
	check := func(what string, counts []string, names []string) {
		t.Helper()
		checkOn(e, what, counts, names)
	}
	create := func(ns, name, plan string) {
		t.Helper()
		spec := map[string]any{"size": int64(1)}
		if plan != "" {
			spec["plan"] = plan
		}
		c.CreateObject(t, cache, cache.Object(ns, name, nil, spec))
	}
	create("cnt-a", "a1", "gold")
	create("cnt-a", "a2", "gold")
	create("cnt-a", "a3", "free")
	create("cnt-b", "b1", "gold")
	create("cnt-b", "b2", "")
	check("the LIST and the watch count every object once",
		[]string{"cnt-a/free=1", "cnt-a/gold=2", "cnt-b/=1", "cnt-b/gold=1"},
		[]string{"a1", "a2", "a3", "b1", "b2"})
	// Synced (the resource is ready) and 6 series held back, not merely not
	// listed yet.
	cluster.Eventually(t, 20*time.Second, 50*time.Millisecond, "the budget holds back 6 Count series", func() (bool, error) {
		return budget.Telemetry(t).Sum("crd_state_metrics_series_dropped", "resource", "count.example.com/v1/Cache") == 6, nil
	})
	checkOn(budget, "Count series over the series budget are not written", nil, nil)
	checkOn(denied, "--metric-denylist leaves the denied Count family out",
		[]string{"cnt-a/free=1", "cnt-a/gold=2", "cnt-b/=1", "cnt-b/gold=1"}, nil)
	if err := denied.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	// An update moves a2 from gold to free; an update that leaves the plan
	// alone changes nothing.
	ri := c.Dynamic.Resource(cache.GVR())
	update := func(ns, name string, f func(o *unstructured.Unstructured)) {
		t.Helper()
		o, err := ri.Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f(o)
		if _, err := ri.Namespace(ns).Update(context.Background(), o, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	update("cnt-a", "a2", func(o *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(o.Object, "free", "spec", "plan")
	})
	update("cnt-a", "a1", func(o *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(o.Object, int64(5), "spec", "size")
	})
	check("an update moves the object to its new combination",
		[]string{"cnt-a/free=2", "cnt-a/gold=1", "cnt-b/=1", "cnt-b/gold=1"},
		[]string{"a1", "a2", "a3", "b1", "b2"})

	// Deletes: a1 empties cnt-a/gold, which disappears; b2 empties cnt-b/.
	for _, d := range [][2]string{{"cnt-a", "a1"}, {"cnt-b", "b2"}} {
		if err := ri.Namespace(d[0]).Delete(context.Background(), d[1], metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	check("deleted objects leave their combinations",
		[]string{"cnt-a/free=2", "cnt-b/gold=1"},
		[]string{"a2", "a3", "b1"})
	checkOn(budget, "Count series that fit the budget again are written",
		[]string{"cnt-a/free=2", "cnt-b/gold=1"}, []string{"a2", "a3", "b1"})
	if v := budget.Telemetry(t).Sum("crd_state_metrics_series_dropped", "resource", "count.example.com/v1/Cache"); v != 0 {
		t.Errorf("crd_state_metrics_series_dropped = %v after the deletes, want 0", v)
	}
	if err := budget.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	// The CRD goes with its objects: no counts; back, it counts anew.
	c.DeleteCRD(t, cache)
	check("a deleted CRD's counts are gone", nil, nil)
	c.EnsureCRD(t, cache)
	create("cnt-b", "b9", "gold")
	check("a re-created CRD counts from its LIST", []string{"cnt-b/gold=1"}, []string{"b9"})
	c.DeleteAllObjects(t, cache)
}
