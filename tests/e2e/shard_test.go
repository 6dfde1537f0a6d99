package e2e

// Sharding (issue 11): exporters with --total-shards over the same objects
// split them so that their union is exactly what one unsharded exporter
// serves, with kube-state-metrics' assignment; auto-sharding follows a
// StatefulSet's spec.replicas in place.

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
)

var (
	shardWidget = cluster.CRDSpec{Group: "shard.example.com", Version: "v1", Kind: "Widget", Namespaced: true}
	shardGizmo  = cluster.CRDSpec{Group: "shard.example.com", Version: "v1", Kind: "Gizmo"}
	shardNS     = []string{"shard-a", "shard-b", "shard-c"}
)

// shardRig: two CRDs (one namespaced, one cluster-scoped) with 150 objects
// each, and an identity that may read them.
type shardRig struct {
	t       *testing.T
	c       *cluster.Cluster
	id      *cluster.Identity
	objects map[string]string // series line -> UID of its object
}

func newShardRig(t *testing.T, perKind int) *shardRig {
	t.Helper()
	c := cluster.Get(t)
	r := &shardRig{t: t, c: c}
	for _, ns := range shardNS {
		c.EnsureNamespace(t, ns)
	}
	for _, s := range []cluster.CRDSpec{shardWidget, shardGizmo} {
		c.EnsureCRD(t, s)
		c.DeleteAllObjects(t, s)
		objs := make([]*unstructured.Unstructured, 0, perKind)
		for i := 0; i < perKind; i++ {
			ns := ""
			if s.Namespaced {
				ns = shardNS[i%len(shardNS)]
			}
			objs = append(objs, s.Object(ns, fmt.Sprintf("%s-%04d", strings.ToLower(s.Kind), i), nil, map[string]any{"i": i}))
		}
		c.CreateObjects(t, s, objs, 16)
	}
	r.id = c.NewServiceAccount(t, "csm-shard", "exporter", cluster.TokenOptions{Lifetime: time.Hour})
	c.GrantClusterRole(t, r.id, "csm-shard-read", rbacv1.PolicyRule{
		APIGroups: []string{shardWidget.Group}, Resources: []string{"widgets", "gizmos"}, Verbs: []string{"get", "list", "watch"}})
	r.refreshTruth()
	return r
}

// refreshTruth lists both kinds: the series every object implies, with its UID.
func (r *shardRig) refreshTruth() {
	r.t.Helper()
	r.objects = map[string]string{}
	for _, s := range []cluster.CRDSpec{shardWidget, shardGizmo} {
		l, err := r.c.Dynamic.Resource(s.GVR()).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			r.t.Fatal(err)
		}
		for _, o := range l.Items {
			for line := range expectedSeries(s.Kind, []unstructured.Unstructured{o}, s.Namespaced) {
				r.objects[line] = string(o.GetUID())
			}
		}
	}
}

func (r *shardRig) start(args ...string) *exporter.Exporter {
	r.t.Helper()
	return exporter.Start(r.t, exporter.Options{
		Kubeconfig: r.id.Kubeconfig,
		Resources:  []string{"shard.example.com/v1/Widget", "shard.example.com/v1/Gizmo"},
		Args:       args,
	})
}

// kubeStateMetricsShard is the assignment as kube-state-metrics computes it
// (FNV-1a 64 of the UID, then go-jump's Hash), written out here so that the
// e2e test checks where each object really landed; the C code is held to
// kube-state-metrics' own package by tests/check-shard.c and scripts/shardvec.
func kubeStateMetricsShard(uid string, total int) int {
	h := fnv.New64a()
	h.Write([]byte(uid))
	key := h.Sum64()
	var b, j int64 = -1, 0
	for j < int64(total) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}

// unionScrape is one scrape of several exporters: how many bodies hold each
// series line, and the bodies.
type unionScrape struct {
	count  map[string]int
	bodies []string
}

// scrapeUnion GETs /metrics of every exporter (in parallel, so the bodies are
// from about the same moment) and counts each series over all bodies. A body
// with a duplicate inside it fails Normalize and is an error.
func scrapeUnion(es []*exporter.Exporter) (unionScrape, error) {
	u := unionScrape{count: map[string]int{}, bodies: make([]string, len(es))}
	errs := make([]error, len(es))
	var wg sync.WaitGroup
	for i, e := range es {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, body, _, err := exporter.Get(e.URL + "/metrics")
			if err == nil && st != 200 {
				err = fmt.Errorf("HTTP %d", st)
			}
			if err == nil {
				_, err = exporter.Normalize(string(body))
			}
			errs[i] = err
			u.bodies[i] = string(body)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return u, fmt.Errorf("exporter %d (%s): %v", i, es[i].URL, err)
		}
	}
	for _, b := range u.bodies {
		for l := range sampleLines(b) {
			u.count[l]++
		}
	}
	return u, nil
}

// compare counts what the union lacks, holds twice or more, and holds that no
// object implies.
func (r *shardRig) compare(u unionScrape) (missing, dup, extra int) {
	for l := range r.objects {
		if u.count[l] == 0 {
			missing++
		}
	}
	for l, n := range u.count {
		if n > 1 {
			dup++
		}
		if _, ok := r.objects[l]; !ok {
			extra++
		}
	}
	return
}

// TestShardStatic: three exporters with --total-shards 3 and one unsharded
// exporter over 300 objects of two CRDs. Every object is in exactly one
// shard's body, on the shard kube-state-metrics' assignment names; the union
// equals the unsharded body series for series; promtool accepts each body;
// and the split survives objects being created and deleted. Shard 1 syncs
// by paged LIST, the others by WatchList: both early filters are covered.
func TestShardStatic(t *testing.T) {
	r := newShardRig(t, 150)
	full := r.start()
	var shards []*exporter.Exporter
	for i := 0; i < 3; i++ {
		args := []string{"--shard", strconv.Itoa(i), "--total-shards", "3"}
		if i == 1 {
			// One shard syncs by paged LIST (50 per page, so continue
			// tokens too): its pages are skimmed, the others' WatchList
			// streams take the watch path.
			args = append(args, "--watch-list", "off", "--list-page-size", "50")
		}
		shards = append(shards, r.start(args...))
	}
	for _, e := range append([]*exporter.Exporter{full}, shards...) {
		e.WaitReady(t, 30*time.Second)
	}

	check := func(what string, timeout time.Duration) {
		t.Helper()
		t0 := time.Now()
		var last string
		for {
			u, err := scrapeUnion(shards)
			fu, ferr := scrapeUnion([]*exporter.Exporter{full})
			if err == nil && ferr == nil {
				missing, dup, extra := r.compare(u)
				fm, fd, fx := r.compare(fu)
				if missing+dup+extra+fm+fd+fx == 0 {
					t.Logf("%s: union of 3 shards = unsharded = %d series (%d objects), 0 duplicates, 0 missing, after %v",
						what, len(u.count), len(r.objects), time.Since(t0).Round(time.Millisecond))
					r.checkPlacement(u, 3)
					for i, b := range u.bodies {
						if msg := exporter.Promtool(t, b); msg != "" {
							t.Errorf("%s: promtool on shard %d: %s", what, i, msg)
						}
					}
					if msg := exporter.Promtool(t, fu.bodies[0]); msg != "" {
						t.Errorf("%s: promtool on the unsharded body: %s", what, msg)
					}
					// The union equals the unsharded body series for series.
					fl := sampleLines(fu.bodies[0])
					if len(fl) != len(u.count) {
						t.Errorf("%s: unsharded %d series, union %d", what, len(fl), len(u.count))
					}
					for l := range fl {
						if u.count[l] != 1 {
							t.Errorf("%s: %s is in %d shards", what, l, u.count[l])
						}
					}
					return
				}
				last = fmt.Sprintf("union: %d missing, %d duplicated, %d extra; unsharded: %d missing, %d duplicated, %d extra",
					missing, dup, extra, fm, fd, fx)
			} else {
				last = fmt.Sprint(err, ferr)
			}
			if time.Since(t0) > timeout {
				t.Fatalf("%s: no convergence within %v: %s", what, timeout, last)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	check("initial sync", 30*time.Second)
	// Shard 1 really took the paged LIST path, and every page scanned.
	if l := shards[1].Logs(); !strings.Contains(l, "objects by LIST") || strings.Contains(l, "not skimmable") {
		t.Errorf("shard 1 (--watch-list off): want a LIST sync with every page skimmed; log:\n%s", shards[1].LogTail(20))
	}

	// Telemetry: the configuration, and the foreign objects each shard skipped.
	for i, e := range shards {
		ss := e.Telemetry(t)
		if v := ss.Sum("crd_state_metrics_shard_ordinal", "shard_ordinal", strconv.Itoa(i)); v != float64(i) {
			t.Errorf("shard %d: crd_state_metrics_shard_ordinal = %v", i, v)
		}
		if v := ss.Sum("crd_state_metrics_total_shards"); v != 3 {
			t.Errorf("shard %d: crd_state_metrics_total_shards = %v", i, v)
		}
		for _, res := range []string{"shard.example.com/v1/Widget", "shard.example.com/v1/Gizmo"} {
			skipped := ss.Sum("crd_state_metrics_shard_skipped_objects_total", "resource", res)
			objs := ss.Sum("crd_state_metrics_objects", "resource", res)
			t.Logf("shard %d %s: %v objects held, %v skipped as foreign", i, res, objs, skipped)
			if skipped+objs < 150 || skipped == 0 {
				t.Errorf("shard %d %s: %v held + %v skipped, want >= 150 and some skipped", i, res, objs, skipped)
			}
		}
	}
	if ss := full.Telemetry(t); ss.Has("crd_state_metrics_total_shards") {
		t.Errorf("unsharded exporter exports crd_state_metrics_total_shards")
	}

	// Changes: new objects land on one shard, deleted ones leave it.
	var objs []*unstructured.Unstructured
	for i := 0; i < 30; i++ {
		objs = append(objs, shardWidget.Object(shardNS[i%3], fmt.Sprintf("late-%04d", i), nil, nil))
	}
	r.c.CreateObjects(t, shardWidget, objs, 8)
	for i := 0; i < 30; i++ {
		err := r.c.Dynamic.Resource(shardGizmo.GVR()).Delete(context.Background(), fmt.Sprintf("gizmo-%04d", i), metav1.DeleteOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	r.refreshTruth()
	check("after 30 creates and 30 deletes", 5*time.Second)
}

// checkPlacement: every series is on the shard kube-state-metrics assigns
// its object's UID to, and every shard holds some of each kind.
func (r *shardRig) checkPlacement(u unionScrape, total int) {
	r.t.Helper()
	perShard := make([]int, len(u.bodies))
	for i, b := range u.bodies {
		for l := range sampleLines(b) {
			uid, ok := r.objects[l]
			if !ok {
				continue
			}
			perShard[i]++
			if want := kubeStateMetricsShard(uid, total); want != i {
				r.t.Errorf("%s (uid %s) on shard %d, kube-state-metrics puts it on %d", l, uid, i, want)
			}
		}
	}
	r.t.Logf("series per shard: %v", perShard)
	for i, n := range perShard {
		if n == 0 && len(r.objects) > 30 {
			r.t.Errorf("shard %d holds nothing", i)
		}
	}
}

// --- auto-sharding ---------------------------------------------------------------

const autoNS = "csm-shard-auto"

type autoRig struct {
	*shardRig
	sts *appsv1.StatefulSet
	mu  sync.Mutex
	es  map[int]*exporter.Exporter // by ordinal
}

func (a *autoRig) createPod(i int) {
	a.t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("csm-%d", i), Namespace: autoNS,
			Labels: map[string]string{"app": "csm-shard"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "StatefulSet", Name: a.sts.Name, UID: a.sts.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "exporter", Image: "crd-state-metrics:e2e"}}},
	}
	if _, err := a.c.Client.CoreV1().Pods(autoNS).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		a.t.Fatalf("create pod %s: %v", pod.Name, err)
	}
}

func (a *autoRig) deletePod(i int) {
	a.t.Helper()
	err := a.c.Client.CoreV1().Pods(autoNS).Delete(context.Background(), fmt.Sprintf("csm-%d", i),
		metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	if err != nil && !apierrors.IsNotFound(err) {
		a.t.Fatal(err)
	}
}

func (a *autoRig) startShard(i int) *exporter.Exporter {
	a.t.Helper()
	e := a.start("--pod", fmt.Sprintf("csm-%d", i), "--pod-namespace", autoNS)
	a.mu.Lock()
	a.es[i] = e
	a.mu.Unlock()
	return e
}

func (a *autoRig) stopShard(i int) {
	a.t.Helper()
	a.mu.Lock()
	e := a.es[i]
	delete(a.es, i)
	a.mu.Unlock()
	if err := e.Stop(10 * time.Second); err != nil {
		a.t.Error(err)
	}
}

func (a *autoRig) current() []*exporter.Exporter {
	a.mu.Lock()
	defer a.mu.Unlock()
	keys := make([]int, 0, len(a.es))
	for k := range a.es {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	out := make([]*exporter.Exporter, 0, len(keys))
	for _, k := range keys {
		out = append(out, a.es[k])
	}
	return out
}

func (a *autoRig) setReplicas(n int32) {
	a.t.Helper()
	ctx := context.Background()
	sts, err := a.c.Client.AppsV1().StatefulSets(autoNS).Get(ctx, a.sts.Name, metav1.GetOptions{})
	if err != nil {
		a.t.Fatal(err)
	}
	sts.Spec.Replicas = ptr.To(n)
	if a.sts, err = a.c.Client.AppsV1().StatefulSets(autoNS).Update(ctx, sts, metav1.UpdateOptions{}); err != nil {
		a.t.Fatal(err)
	}
}

// sampler scrapes the union of the running shards continuously and records,
// per round, duplicates and missing objects.
type sampler struct {
	mu sync.Mutex
	samplerStats
}

type samplerStats struct {
	rounds     int
	incomplete int // a shard did not answer (being stopped or started)
	dupRounds  int
	dupMax     int
	gapRounds  int
	gapMax     int
	firstDup   string
}

func (s *sampler) run(a *autoRig, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		es := a.current()
		u, err := scrapeUnion(es)
		s.mu.Lock()
		s.rounds++
		if err != nil {
			s.incomplete++
		} else {
			missing, dup, _ := a.compare(u)
			if dup > 0 {
				s.dupRounds++
				if s.firstDup == "" {
					for l, n := range u.count {
						if n > 1 {
							s.firstDup = fmt.Sprintf("%s in %d of %d bodies", l, n, len(es))
							break
						}
					}
				}
			}
			s.dupMax = max(s.dupMax, dup)
			if missing > 0 {
				s.gapRounds++
			}
			s.gapMax = max(s.gapMax, missing)
		}
		s.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *sampler) snapshot() samplerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samplerStats
}

// TestShardAuto: a StatefulSet and its Pod objects created through the API
// (no kubelet: the pods stay Pending, owned by the StatefulSet), exporters
// running with --pod/--pod-namespace naming them. spec.replicas goes
// 3 -> 2 -> 4; the test plays the StatefulSet controller (deletes or creates
// the Pods and exporter processes right after the change). After each change
// the union of the shards converges to the unsharded body within 5 s, and no
// scrape of the union, taken every ~20 ms throughout, shows a series twice.
// Missing series during a handover are expected (a shard that loses objects
// drops them at once; one that gains takes them after --shard-handover-delay)
// and are reported, not asserted.
func TestShardAuto(t *testing.T) {
	r := newShardRig(t, 150)
	a := &autoRig{shardRig: r, es: map[int]*exporter.Exporter{}}
	ctx := context.Background()
	c := r.c
	c.EnsureNamespace(t, autoNS)
	// No controller manager: the namespace's default ServiceAccount, which
	// the ServiceAccount admission plugin wants for a pod, is ours to make.
	_, err := c.Client.CoreV1().ServiceAccounts(autoNS).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	_ = c.Client.AppsV1().StatefulSets(autoNS).Delete(ctx, "csm", metav1.DeleteOptions{})
	_ = c.Client.CoreV1().Pods(autoNS).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)},
		metav1.ListOptions{LabelSelector: "app=csm-shard"})
	labels := map[string]string{"app": "csm-shard"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "csm", Namespace: autoNS},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](3), ServiceName: "csm",
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "exporter", Image: "crd-state-metrics:e2e"}}},
			},
		},
	}
	if a.sts, err = c.Client.AppsV1().StatefulSets(autoNS).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.AppsV1().StatefulSets(autoNS).Delete(context.Background(), "csm", metav1.DeleteOptions{})
	})
	// What the overlay's Role grants: get on pods, get/list/watch on its own
	// StatefulSet only (list/watch with fieldSelector metadata.name are
	// authorized against resourceNames).
	c.GrantRole(t, r.id, autoNS, "csm-shard-self",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"statefulsets"}, ResourceNames: []string{"csm"},
			Verbs: []string{"get", "list", "watch"}})

	full := r.start()
	full.WaitReady(t, 30*time.Second)
	for i := 0; i < 3; i++ {
		a.createPod(i)
		a.startShard(i)
	}
	for _, e := range a.current() {
		e.WaitReady(t, 30*time.Second)
	}

	converge := func(what string, since time.Time, timeout time.Duration, shards int) time.Duration {
		t.Helper()
		var last string
		for {
			es := a.current()
			u, err := scrapeUnion(es)
			fu, ferr := scrapeUnion([]*exporter.Exporter{full})
			if err == nil && ferr == nil {
				missing, dup, extra := r.compare(u)
				fm, fd, fx := r.compare(fu)
				if missing+dup+extra+fm+fd+fx == 0 && len(es) == shards {
					d := time.Since(since)
					t.Logf("%s: union of %d shards = unsharded body (%d series) %v after the change", what, len(es), len(u.count), d.Round(time.Millisecond))
					r.checkPlacement(u, shards)
					for i, b := range u.bodies {
						if msg := exporter.Promtool(t, b); msg != "" {
							t.Errorf("%s: promtool on shard %d: %s", what, i, msg)
						}
					}
					return d
				}
				last = fmt.Sprintf("%d shards; union: %d missing, %d duplicated, %d extra; unsharded: %d/%d/%d", len(es), missing, dup, extra, fm, fd, fx)
			} else {
				last = fmt.Sprint(err, ferr)
			}
			if time.Since(since) > timeout {
				t.Fatalf("%s: the union did not converge within %v: %s", what, timeout, last)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	converge("3 replicas, initial", time.Now(), 30*time.Second, 3)

	s := &sampler{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { s.run(a, stop); close(done) }()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}()
	var prev samplerStats
	report := func(what string) {
		ss := s.snapshot()
		t.Logf("%s: %d union scrapes (%d incomplete), %d with a duplicate (max %d series), %d with missing series (max %d so far)",
			what, ss.rounds-prev.rounds, ss.incomplete-prev.incomplete, ss.dupRounds-prev.dupRounds, ss.dupMax,
			ss.gapRounds-prev.gapRounds, ss.gapMax)
		if ss.dupRounds > 0 {
			t.Errorf("%s: a union scrape showed a duplicate: %s", what, ss.firstDup)
		}
		prev = ss
	}
	time.Sleep(300 * time.Millisecond)
	report("steady 3 replicas")

	// 3 -> 2: the controller deletes the highest ordinal; its process keeps
	// running (and being scraped) for a second, as a terminating pod does.
	// It must empty its body on its own: its ordinal is no longer below
	// spec.replicas.
	t0 := time.Now()
	a.setReplicas(2)
	a.deletePod(2)
	a.mu.Lock()
	e2 := a.es[2]
	a.mu.Unlock()
	var emptied time.Duration
	for time.Since(t0) < time.Second {
		if ser, err := scrapeSeries(e2); err == nil && len(ser) == 0 && emptied == 0 {
			emptied = time.Since(t0)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if emptied == 0 {
		t.Errorf("3 -> 2: shard 2 still exports series 1 s after spec.replicas became 2")
	} else {
		t.Logf("3 -> 2: shard 2 (beyond the replicas) exported nothing %v after the change", emptied.Round(time.Millisecond))
	}
	a.stopShard(2)
	d32 := converge("3 -> 2", t0, 5*time.Second, 2)
	time.Sleep(300 * time.Millisecond)
	report("after 3 -> 2")

	// 2 -> 4: new Pods and exporters for ordinals 2 and 3.
	t0 = time.Now()
	a.setReplicas(4)
	for i := 2; i < 4; i++ {
		a.createPod(i)
		a.startShard(i)
	}
	d24 := converge("2 -> 4", t0, 5*time.Second, 4)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	report("after 2 -> 4")
	t.Logf("reshard convergence: 3->2 %v, 2->4 %v", d32.Round(time.Millisecond), d24.Round(time.Millisecond))

	// The duplicate check can fail: a shard that never learns the new count
	// (static --shard 1 --total-shards 2 while the fleet runs with 4) makes
	// the union show the objects it still holds twice.
	stale := r.start("--shard", "1", "--total-shards", "2")
	stale.WaitReady(t, 30*time.Second)
	u, err := scrapeUnion(append(a.current(), stale))
	if err != nil {
		t.Fatal(err)
	}
	if _, dup, _ := r.compare(u); dup == 0 {
		t.Errorf("negative control: a stale shard added to the union showed no duplicate")
	} else {
		t.Logf("negative control: a stale shard (1 of 2) in the union of 4 shows %d duplicated series", dup)
	}

	for i, e := range a.current() {
		ss := e.Telemetry(t)
		if v := ss.Sum("crd_state_metrics_total_shards"); v != 4 {
			t.Errorf("shard %d: crd_state_metrics_total_shards = %v, want 4", i, v)
		}
		want := 0.0
		if i < 2 {
			want = 2 // 3 -> 2 and 2 -> 4
		}
		if v := ss.Sum("crd_state_metrics_reshards_total"); v != want {
			t.Errorf("shard %d: crd_state_metrics_reshards_total = %v, want %v", i, v, want)
		}
		if i < 2 {
			if v := ss.Sum("crd_state_metrics_relists_total", "reason", "reshard"); v < 2 {
				t.Errorf("shard %d: relists for resharding = %v, want >= 2 (one per resource)", i, v)
			}
		}
	}
}

// TestShardAutoNoStatefulSet: --pod naming a pod that no StatefulSet owns
// (or that is not there) leaves the exporter unready, saying why in /readyz,
// with nothing listed and nothing exported; it keeps retrying, and once the
// pod exists with an owner the exporter becomes ready by itself.
func TestShardAutoNoStatefulSet(t *testing.T) {
	r := newShardRig(t, 10)
	c := r.c
	ctx := context.Background()
	const ns = "csm-shard-orphan"
	c.EnsureNamespace(t, ns)
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	_ = c.Client.CoreV1().Pods(ns).Delete(ctx, "orphan-0", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	_ = c.Client.AppsV1().StatefulSets(ns).Delete(ctx, "orphan", metav1.DeleteOptions{})
	c.GrantRole(t, r.id, ns, "csm-shard-self",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"statefulsets"}, ResourceNames: []string{"orphan"},
			Verbs: []string{"get", "list", "watch"}})

	e := r.start("--pod", "orphan-0", "--pod-namespace", ns)
	expectUnready := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, body, _, err := exporter.Get(e.URL + "/readyz")
			if err == nil && st != 200 && strings.Contains(string(body), want) {
				t.Logf("/readyz %d: %s", st, strings.TrimSpace(string(body)))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz: want not ready mentioning %q, got %d %q (%v)", want, st, body, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if ser, err := scrapeSeries(e); err != nil || len(ser) != 0 {
			t.Errorf("an exporter without a shard exports %d series (%v)", len(ser), err)
		}
	}
	expectUnready("HTTP 404") // the pod does not exist (yet)

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan-0", Namespace: ns},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "exporter", Image: "crd-state-metrics:e2e"}}}}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectUnready("no controlling StatefulSet")

	// Give it an owner: the next retry finds it and the exporter serves
	// its share of 1 shard (everything).
	labels := map[string]string{"app": "orphan"}
	sts, err := c.Client.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), ServiceName: "orphan",
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "exporter", Image: "crd-state-metrics:e2e"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.AppsV1().StatefulSets(ns).Delete(context.Background(), "orphan", metav1.DeleteOptions{})
	})
	got, err := c.Client.CoreV1().Pods(ns).Get(ctx, "orphan-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "orphan",
		UID: sts.UID, Controller: ptr.To(true)}}
	if _, err := c.Client.CoreV1().Pods(ns).Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := e.WaitReady(t, 60*time.Second)
	t.Logf("ready %v after the pod got its owner (retries back off)", d.Round(time.Millisecond))
	u, err := scrapeUnion([]*exporter.Exporter{e})
	if err != nil {
		t.Fatal(err)
	}
	if missing, dup, extra := r.compare(u); missing+dup+extra != 0 {
		t.Errorf("1 shard of 1: %d missing, %d duplicated, %d extra", missing, dup, extra)
	}
}
