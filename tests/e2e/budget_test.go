package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
)

// Issue 14: series budgets. A kind of its own, so nothing else shows up.
var budgetShelf = cluster.CRDSpec{Group: "budget.example.com", Version: "v1", Kind: "Shelf", Namespaced: true}

const budgetResource = "budget.example.com/v1/Shelf"

// A config whose list explodes: one series per element of spec.items, so an
// object with N items costs N series (plus its shelf_info series).
func budgetConfig(maxSeries int) string {
	limit := ""
	if maxSeries > 0 {
		limit = fmt.Sprintf("    maxSeries: %d\n", maxSeries)
	}
	return `kind: CustomResourceStateMetrics
spec:
  resources:
  - groupVersionKind: {group: budget.example.com, version: v1, kind: Shelf}
    metricNamePrefix: shelf
` + limit + `    labelsFromPath:
      name: [metadata, name]
    metrics:
    - name: item
      help: One series per item.
      each:
        type: Gauge
        gauge: {path: [spec, items], valueFrom: [v], labelsFromPath: {item: [id]}}
`
}

func shelf(name string, items int) *unstructured.Unstructured {
	list := make([]any, items)
	for i := range list {
		list[i] = map[string]any{"id": fmt.Sprintf("i%05d", i), "v": int64(i)}
	}
	return budgetShelf.Object("default", name, nil, map[string]any{"items": list})
}

// budgetScrape returns the body and the shelf names that have series in it.
func budgetScrape(t *testing.T, e *exporter.Exporter) (string, []string, int) {
	t.Helper()
	body := exporter.MustGet(t, e.URL+"/metrics")
	ss, err := exporter.ParseSamples(body)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var names []string
	for _, s := range ss.Match("shelf_info") {
		if !seen[s.Labels["shelf"]] {
			seen[s.Labels["shelf"]] = true
			names = append(names, s.Labels["shelf"])
		}
	}
	sort.Strings(names) // the body's order is the store's, not the API server's
	return body, names, len(ss)
}

// TestSeriesBudget: a per-resource maxSeries from the config and the global
// --max-series each cap the body against a config whose list explodes; the
// objects beyond the budget are skipped whole and the same ones every scrape,
// telemetry counts them, the log says so once, promtool accepts the body, and
// a skipped object that shrinks is admitted when it changes.
func TestSeriesBudget(t *testing.T) {
	c := cluster.Get(t)
	c.EnsureCRD(t, budgetShelf)
	c.DeleteAllObjects(t, budgetShelf)
	t.Cleanup(func() { c.DeleteAllObjects(t, budgetShelf) })

	// 5 shelves of 2,000 items: 2,001 series each (items + shelf_info), 10,005 in all.
	for _, n := range []string{"s1", "s2", "s3", "s4", "s5"} {
		c.CreateObject(t, budgetShelf, shelf(n, 2000))
	}

	cases := []struct {
		name   string
		config int      // maxSeries in the config (0: none)
		args   []string // further flags
	}{
		{"config-maxSeries", 4500, nil},
		{"flag-max-series", 0, []string{"--max-series", "4500"}},
		{"flag-per-resource", 0, []string{"--max-series-per-resource", "4500"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cm := newConfigMapDir(t, budgetConfig(tc.config))
			e := exporter.Start(t, exporter.Options{
				Kubeconfig: c.Kubeconfig,
				Resources:  []string{budgetResource},
				Args:       append([]string{"--generators", "info", "--config", cm.path()}, tc.args...),
			})
			e.WaitReady(t, 60*time.Second)

			// The initial LIST arrives in name order: s1 and s2 fit (4,002 series),
			// s3 does not (6,003 > 4,500), nor do s4 and s5.
			var body string
			var names []string
			var total int
			deadline := time.Now().Add(30 * time.Second)
			for {
				body, names, total = budgetScrape(t, e)
				tel := e.Telemetry(t)
				if tel.Sum("crd_state_metrics_objects_skipped", "resource", budgetResource) == 3 || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if got := strings.Join(names, ","); got != "s1,s2" {
				t.Fatalf("shelves exported: %q, want s1,s2 (%d series)", got, total)
			}
			if total != 2*2001 {
				t.Errorf("series in the body: %d, want %d", total, 2*2001)
			}
			if msg := exporter.Promtool(t, body); msg != "" {
				t.Errorf("promtool: %s", msg)
			}
			tel := e.Telemetry(t)
			if v := tel.Sum("crd_state_metrics_series_dropped", "resource", budgetResource); v != 3*2001 {
				t.Errorf("crd_state_metrics_series_dropped = %v, want %d", v, 3*2001)
			}
			if v := tel.Sum("crd_state_metrics_objects_skipped", "resource", budgetResource); v != 3 {
				t.Errorf("crd_state_metrics_objects_skipped = %v, want 3", v)
			}
			// The same ones on every scrape.
			for i := 0; i < 3; i++ {
				if _, again, _ := budgetScrape(t, e); strings.Join(again, ",") != "s1,s2" {
					t.Fatalf("scrape %d: shelves %v, want [s1 s2]", i, again)
				}
			}

			// s4 shrinks to 100 items: it fits now and is admitted on that change;
			// s3 and s5 stay skipped.
			obj, err := c.Dynamic.Resource(budgetShelf.GVR()).Namespace("default").Get(context.Background(), "s4", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			obj.Object["spec"] = shelf("s4", 100).Object["spec"]
			if _, err := c.Dynamic.Resource(budgetShelf.GVR()).Namespace("default").Update(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			deadline = time.Now().Add(20 * time.Second)
			for {
				_, names, total = budgetScrape(t, e)
				if strings.Join(names, ",") == "s1,s2,s4" || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if got := strings.Join(names, ","); got != "s1,s2,s4" || total != 2*2001+101 {
				t.Fatalf("after s4 shrank: shelves %q, %d series; want s1,s2,s4 and %d", got, total, 2*2001+101)
			}
			tel = e.Telemetry(t)
			if v := tel.Sum("crd_state_metrics_objects_skipped", "resource", budgetResource); v != 2 {
				t.Errorf("crd_state_metrics_objects_skipped after s4 shrank = %v, want 2", v)
			}
			if v := tel.Sum("crd_state_metrics_series_dropped", "resource", budgetResource); v != 2*2001 {
				t.Errorf("crd_state_metrics_series_dropped after s4 shrank = %v, want %d", v, 2*2001)
			}
			// Logged once per change of state: one "reached" while it stays over.
			if n := strings.Count(e.Logs(), "series budget reached"); n != 1 {
				t.Errorf("\"series budget reached\" logged %d times, want 1:\n%s", n, e.LogTail(30))
			}
			// Restore s4 for the next case.
			obj, err = c.Dynamic.Resource(budgetShelf.GVR()).Namespace("default").Get(context.Background(), "s4", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			obj.Object["spec"] = shelf("s4", 2000).Object["spec"]
			if _, err := c.Dynamic.Resource(budgetShelf.GVR()).Namespace("default").Update(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLabelCap: with labels=*, an object with more labels than
// --max-labels-per-sample loses its _labels series (dropped whole, not
// truncated), every other series of it and of other objects stays, the drop is
// counted per resource and generator, and logged once however often the object
// changes.
func TestLabelCap(t *testing.T) {
	c := cluster.Get(t)
	c.EnsureCRD(t, budgetShelf)
	c.DeleteAllObjects(t, budgetShelf)
	t.Cleanup(func() { c.DeleteAllObjects(t, budgetShelf) })

	many := map[string]string{}
	for i := 0; i < 300; i++ {
		many[fmt.Sprintf("k%03d", i)] = "v"
	}
	c.CreateObject(t, budgetShelf, budgetShelf.Object("default", "wide", many, map[string]any{}))
	c.CreateObject(t, budgetShelf, budgetShelf.Object("default", "narrow", map[string]string{"app": "x"}, map[string]any{}))
	e := exporter.Start(t, exporter.Options{
		Kubeconfig: c.Kubeconfig,
		Resources:  []string{budgetResource},
		Args: []string{"--generators", "info,labels", "--metric-labels-allowlist", "*=[*]",
			"--max-labels-per-sample", "100"},
	})
	e.WaitReady(t, 60*time.Second)

	dropped := func() float64 {
		return e.Telemetry(t).Sum("crd_state_metrics_samples_dropped_total", "resource", budgetResource,
			"generator", "labels", "reason", "too_many_labels")
	}
	// Three more versions of the wide object: each render drops again.
	for i := 0; i < 3; i++ {
		obj, err := c.Dynamic.Resource(budgetShelf.GVR()).Namespace("default").Get(context.Background(), "wide", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		obj.SetAnnotations(map[string]string{"round": fmt.Sprint(i)})
		if _, err := c.Dynamic.Resource(budgetShelf.GVR()).Namespace("default").Update(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for dropped() < 4 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if v := dropped(); v != 4 {
		t.Errorf("samples_dropped_total{generator=labels} = %v, want 4 (one per render of the wide object)", v)
	}
	body := exporter.MustGet(t, e.URL+"/metrics")
	ss, err := exporter.ParseSamples(body)
	if err != nil {
		t.Fatal(err)
	}
	if ss.Has("shelf_labels", "shelf", "wide") {
		t.Errorf("the wide object's shelf_labels series is exported; want it dropped whole")
	}
	if !ss.Has("shelf_labels", "shelf", "narrow", "label_app", "x") || !ss.Has("shelf_info", "shelf", "wide") {
		t.Errorf("want shelf_labels of narrow and shelf_info of wide:\n%s", body)
	}
	if msg := exporter.Promtool(t, body); msg != "" {
		t.Errorf("promtool: %s", msg)
	}
	if v := e.Telemetry(t).Sum("crd_state_metrics_generator_failures_total", "resource", budgetResource); v != 0 {
		t.Errorf("generator_failures_total = %v: a policy drop is not a generator failure", v)
	}
	if n := strings.Count(e.Logs(), "over --max-labels-per-sample=100"); n != 1 {
		t.Errorf("the label cap was logged %d times, want once:\n%s", n, e.LogTail(20))
	}
}
