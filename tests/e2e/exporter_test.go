package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
)

var (
	memcached    = cluster.CRDSpec{Group: "cache.example.com", Version: "v1", Kind: "Memcached", Namespaced: true}
	clusterThing = cluster.CRDSpec{Group: "example.com", Version: "v1", Kind: "ClusterThing"}
)

// family renders the expected text-format family <kind>_info for the given
// objects ("ns/name" for namespaced kinds, "name" for cluster-scoped ones).
func family(kind string, objs ...string) string {
	k := strings.ToLower(kind)
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s_info Information about a %s object.\n# TYPE %s_info gauge\n", k, kind, k)
	for _, o := range objs {
		if ns, name, ok := strings.Cut(o, "/"); ok {
			fmt.Fprintf(&b, "%s_info{namespace=%q,%s=%q} 1\n", k, ns, k, name)
		} else {
			fmt.Fprintf(&b, "%s_info{%s=%q} 1\n", k, k, o)
		}
	}
	return b.String()
}

// bodyChecker validates every scraped body: it normalises it (sorted samples per
// family, no duplicate lines) and runs promtool once per distinct body.
type bodyChecker struct {
	t      *testing.T
	linted map[[32]byte]bool
}

func (bc *bodyChecker) check(body string) (string, error) {
	bc.t.Helper()
	norm, err := exporter.Normalize(body)
	if err != nil {
		return "", fmt.Errorf("%v in body:\n%s", err, body)
	}
	sum := sha256.Sum256([]byte(body))
	if !bc.linted[sum] {
		bc.linted[sum] = true
		if msg := exporter.Promtool(bc.t, body); msg != "" {
			return "", fmt.Errorf("promtool check metrics: %s\nbody:\n%s", msg, body)
		}
	}
	return norm, nil
}

// TestExporterCore is the core contract (issue 2): the exporter, running with a
// least-privilege ServiceAccount token, serves exactly one <kind>_info series per
// object, in command-line resource order, and follows changes within 2s.
func TestExporterCore(t *testing.T) {
	c := cluster.Get(t)
	ctx := context.Background()

	c.EnsureNamespace(t, "team-a")
	for _, s := range []cluster.CRDSpec{memcached, clusterThing} {
		c.EnsureCRD(t, s)
		c.DeleteAllObjects(t, s)
	}
	c.CreateObject(t, memcached, memcached.Object("default", "example-memcached", map[string]string{"app": "memcached"}, map[string]any{"size": 3}))
	c.CreateObject(t, memcached, memcached.Object("team-a", "other", nil, map[string]any{"size": 1}))
	c.CreateObject(t, clusterThing, clusterThing.Object("", "alpha", nil, nil))
	c.CreateObject(t, clusterThing, clusterThing.Object("", "beta", map[string]string{"tier": "gold"}, nil))

	id := c.NewServiceAccount(t, "csm-e2e", "crd-state-metrics", cluster.TokenOptions{Lifetime: time.Hour})
	c.GrantClusterRole(t, id, "crd-state-metrics-e2e",
		rbacv1.PolicyRule{APIGroups: []string{memcached.Group}, Resources: []string{"memcacheds"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{clusterThing.Group}, Resources: []string{"clusterthings"}, Verbs: []string{"get", "list", "watch"}},
	)

	e := exporter.Start(t, exporter.Options{
		Kubeconfig: id.Kubeconfig,
		Resources:  []string{"cache.example.com/v1/Memcached", "example.com/v1/ClusterThing"},
	})
	t.Logf("exporter ready %v after start", e.WaitReady(t, 30*time.Second).Round(time.Millisecond))

	bc := &bodyChecker{t: t, linted: map[[32]byte]bool{}}
	var fetched time.Time // when the last scrape's response was complete
	// Every other scrape asks for gzip, as Prometheus does, and decodes it
	// with Go's gzip reader (Prometheus' own): the body stitched from cached
	// pieces must pass every check a plain one does.
	scrapes := 0
	scrape := func() (string, error) {
		scrapes++
		gz := scrapes%2 == 0
		var hs []string
		if gz {
			hs = append(hs, "Accept-Encoding: gzip")
		}
		st, body, hdr, err := exporter.Get(e.URL+"/metrics", hs...)
		fetched = time.Now()
		if err != nil {
			return "", err
		}
		if st != 200 {
			return "", fmt.Errorf("GET /metrics: HTTP %d: %.300s", st, body)
		}
		if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(ct, "version=0.0.4") {
			return "", fmt.Errorf("GET /metrics without Accept: Content-Type %q, want text/plain; version=0.0.4", ct)
		}
		if gz {
			if ce := hdr.Get("Content-Encoding"); ce != "gzip" {
				return "", fmt.Errorf("GET /metrics with Accept-Encoding: gzip: Content-Encoding %q", ce)
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				return "", fmt.Errorf("gzip body: %v", err)
			}
			zr.Multistream(false)
			if body, err = io.ReadAll(zr); err != nil {
				return "", fmt.Errorf("gzip body: %v", err)
			}
		}
		return bc.check(string(body))
	}
	norm := func(s string) string {
		n, err := exporter.Normalize(s)
		if err != nil {
			t.Fatalf("expected body: %v", err)
		}
		return n
	}

	state := norm(family("Memcached", "default/example-memcached", "team-a/other") +
		family("ClusterThing", "alpha", "beta"))
	got, err := scrape()
	if err != nil {
		t.Fatal(err)
	}
	if got != state {
		t.Fatalf("initial /metrics body (samples sorted per family):\n%s\nwant:\n%s", got, state)
	}
	// curl --compressed and Python's gzip decode the stitched stream to the
	// same body as the plain one.
	_, plainBody, _, err := exporter.Get(e.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{
		{"curl", "-fsS", "--compressed", e.URL + "/metrics"},
		{"sh", "-c", `curl -fsS -H 'Accept-Encoding: gzip' "$0" | python3 -c 'import gzip,sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))'`, e.URL + "/metrics"},
	} {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			t.Fatalf("%v: %v", argv, err)
		}
		if !bytes.Equal(out, plainBody) {
			t.Fatalf("%v decoded %d bytes, the plain body has %d:\n%.500s", argv, len(out), len(plainBody), out)
		}
	}

	// converge polls /metrics every 25ms after an API write until the body equals
	// want; every body seen in between must be the previous or the new state.
	converge := func(what string, write func(), want string) {
		t.Helper()
		prev := state
		write()
		t0 := time.Now()
		lastOld := "never" // when the old body was last seen: the figure's resolution
		for {
			tScrape := time.Since(t0)
			got, err := scrape()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if got == want {
				// The body reflects the store at some instant during the scrape,
				// so the delay is at most the end of this scrape and more than
				// the start of the last scrape that still showed the old body.
				t.Logf("%s: /metrics changed within %v of the API write returning (scrape started at %v; old body last seen in a scrape started at %s; polling every 25ms)",
					what, fetched.Sub(t0).Round(10*time.Microsecond), tScrape.Round(10*time.Microsecond), lastOld)
				state = want
				return
			}
			lastOld = tScrape.Round(10 * time.Microsecond).String()
			if got != prev {
				t.Fatalf("%s: /metrics shows neither the old nor the new state:\n%s\nold:\n%s\nnew:\n%s", what, got, prev, want)
			}
			if time.Since(t0) > 2*time.Second {
				t.Fatalf("%s: /metrics did not converge within 2s; still:\n%s\nwant:\n%s", what, got, want)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}

	mri := c.Dynamic.Resource(memcached.GVR())
	cri := c.Dynamic.Resource(clusterThing.GVR())

	// A label change regenerates the object's families; the info family does not
	// show labels, so the body must stay exactly the same (no duplicate, no gap).
	patch := []byte(`{"metadata":{"labels":{"app":"memcached","tier":"cache"}}}`)
	if _, err := mri.Namespace("default").Patch(ctx, "example-memcached", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	for t0 := time.Now(); time.Since(t0) < 500*time.Millisecond; time.Sleep(25 * time.Millisecond) {
		got, err := scrape()
		if err != nil {
			t.Fatal(err)
		}
		if got != state {
			t.Fatalf("after a label change /metrics changed:\n%s\nwant unchanged:\n%s", got, state)
		}
	}

	converge("delete team-a/other", func() {
		if err := mri.Namespace("team-a").Delete(ctx, "other", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}, norm(family("Memcached", "default/example-memcached")+family("ClusterThing", "alpha", "beta")))

	converge("create team-a/fresh", func() {
		c.CreateObject(t, memcached, memcached.Object("team-a", "fresh", nil, map[string]any{"size": 2}))
	}, norm(family("Memcached", "default/example-memcached", "team-a/fresh")+family("ClusterThing", "alpha", "beta")))

	converge("delete cluster-scoped beta", func() {
		if err := cri.Delete(ctx, "beta", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}, norm(family("Memcached", "default/example-memcached", "team-a/fresh")+family("ClusterThing", "alpha")))

	converge("create cluster-scoped gamma", func() {
		c.CreateObject(t, clusterThing, clusterThing.Object("", "gamma", nil, nil))
	}, norm(family("Memcached", "default/example-memcached", "team-a/fresh")+family("ClusterThing", "alpha", "gamma")))

	// Health endpoints on the metrics port, and the telemetry port's own metrics.
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		exporter.MustGet(t, e.URL+p)
	}
	tel := exporter.MustGet(t, e.TelemetryURL+"/metrics")
	if _, err := bc.check(tel); err != nil {
		t.Errorf("telemetry /metrics: %v", err)
	}
	if strings.Contains(tel, "memcached_info") {
		t.Errorf("telemetry port serves the object metrics; they belong on the metrics port only")
	}

	// The exporter never logs the token it authenticates with.
	raw, err := os.ReadFile(e.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), id.Token) {
		t.Errorf("exporter log contains the service-account token")
	}
}
