package e2e

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
	"crd-state-metrics/tests/e2e/ship"
)

// TestImage runs the exporter from the container image that scripts/image-test
// built ($CSM_IMAGE) the way a pod would: `buildah run` (chroot isolation) as
// the image's user, in-cluster configuration from a ServiceAccount volume
// (token, ca.crt, namespace) and KUBERNETES_SERVICE_HOST/PORT, the standalone
// Deployment's arguments with its certificate Secret mounted where the
// Deployment mounts it, and that ServiceAccount's RBAC from the manifests. It
// checks /readyz and /metrics, the process' identity, a clean SIGTERM exit, and
// that nothing was written to the image's filesystem (the Deployment makes it
// read-only).
func TestImage(t *testing.T) {
	image := os.Getenv("CSM_IMAGE")
	if image == "" {
		t.Skip("CSM_IMAGE is not set: scripts/image-test (which scripts/test runs) builds the image and runs this test")
	}
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Fatalf("buildah: %v", err)
	}
	c := cluster.Get(t)
	b := ship.NewBuildah()

	ship.InstallMonitoringCRDs(t, c)
	ship.InstallSampleCRD(t, c)
	memcached := cluster.CRDSpec{Group: "cache.example.com", Version: "v1", Kind: "Memcached", Namespaced: true}
	c.DeleteAllObjects(t, memcached)
	t.Cleanup(func() { c.DeleteAllObjects(t, memcached) })
	samples, err := os.ReadFile(filepath.Join(ship.ManifestsDir(), "examples", "memcached-objects.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ship.MustApply(t, c, "the sample objects", string(samples))
	sampleObjs, err := ship.DecodeYAML(samples)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, o := range sampleObjs {
		if o.GetKind() == "Memcached" {
			want = append(want, fmt.Sprintf(`memcached_info{namespace=%q,memcached=%q} 1`, o.GetNamespace(), o.GetName()))
		}
	}
	sort.Strings(want)

	manifest, objs := ship.Render(t, c, filepath.Join(ship.ManifestsDir(), "overlays", "standalone"))
	ship.MustApply(t, c, "the standalone overlay", manifest)
	pods := ship.ExporterPods(objs)
	if len(pods) != 1 {
		t.Fatalf("want one exporter Deployment, got %d", len(pods))
	}
	pod := pods[0]
	ns := pod.Deploy.GetNamespace()
	svc := ship.Find(objs, "Service", "crd-state-metrics")

	// The image runs as the user the Deployment's securityContext names.
	user := b.Output(t, "inspect", "--type", "image", "--format", "{{.OCIv1.Config.User}}", image)
	uid, _, _ := unstructured.NestedInt64(pod.Container, "securityContext", "runAsUser")
	gid, _, _ := unstructured.NestedInt64(pod.Container, "securityContext", "runAsGroup")
	if user != fmt.Sprintf("%d:%d", uid, gid) {
		t.Errorf("image user %q, Deployment runAsUser:runAsGroup %d:%d", user, uid, gid)
	}

	ctr := b.From(t, image)
	root := b.Mount(t, ctr)
	before := ship.Snapshot(t, root)
	help := b.Output(t, "run", "--isolation", "chroot", ctr, "--", "/usr/bin/crd-state-metrics", "--help")
	deployArgs := ship.ExpandArgs(t, objs, pod.Container)
	secure := ship.SecureServingSupported(t, []byte(help), deployArgs)

	// Volumes as the kubelet would mount them (world-readable files: the
	// process is not root).
	writeVolume := func(files map[string][]byte) string {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	readFile := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tok, _, err := c.RequestToken(t.Context(), ns, pod.SA, cluster.TokenOptions{Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	saDir := writeVolume(map[string][]byte{"token": []byte(tok), "ca.crt": readFile(c.CAFile), "namespace": []byte(ns)})
	mounts := []string{"--volume", saDir + ":/var/run/secrets/kubernetes.io/serviceaccount:ro"}
	serverName := svc.GetName() + "." + ns + ".svc"
	var scrapeToken string
	if secure {
		certFile, keyFile := c.IssueServingCert(t, "crd-state-metrics", serverName)
		var tlsMount string
		for _, m := range ship.Slice(pod.Container, "volumeMounts") {
			tlsMount = ship.Str(m.(map[string]any), "mountPath")
		}
		tlsDir := writeVolume(map[string][]byte{"tls.crt": readFile(certFile), "tls.key": readFile(keyFile), "ca.crt": readFile(c.CAFile)})
		mounts = append(mounts, "--volume", tlsDir+":"+tlsMount+":ro")
		for _, bnd := range ship.FindAll(objs, "ClusterRoleBinding") {
			if strings.HasSuffix(ship.Str(bnd.Object, "roleRef", "name"), "metrics-reader") {
				s := ship.Slice(bnd.Object, "subjects")[0].(map[string]any)
				scrapeToken = c.NewServiceAccount(t, ship.Str(s, "namespace"), ship.Str(s, "name"), cluster.TokenOptions{}).Token
			}
		}
	}
	api, err := url.Parse(c.APIServerURL)
	if err != nil {
		t.Fatal(err)
	}
	port, tport := exporter.FreePort(t), exporter.FreePort(t)
	args := ship.LocalArgs(deployArgs, port, tport, nil, secure)
	runArgs := append([]string{"run", "--isolation", "chroot",
		"--env", "KUBERNETES_SERVICE_HOST=" + api.Hostname(), "--env", "KUBERNETES_SERVICE_PORT=" + api.Port()}, mounts...)
	runArgs = append(append(runArgs, ctr, "--", "/usr/bin/crd-state-metrics"), args...)
	cmd := b.Command(runArgs...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t.Logf("buildah %s", strings.Join(runArgs, " "))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pid := 0
	t.Cleanup(func() {
		if pid != 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("exporter output:\n%s", exporter.Redact(logs.String()))
		}
	})

	scheme := "http"
	if secure {
		scheme = "https"
	}
	get := func(path, token string) (int, []byte, error) {
		u := fmt.Sprintf("%s://127.0.0.1:%d%s", scheme, port, path)
		if secure {
			return ship.TLSGet(c.CAFile, serverName, u, token)
		}
		st, body, _, err := exporter.Get(u)
		return st, body, err
	}
	ship.WaitFor(t, 30*time.Second, "the image's exporter is ready (/readyz, in-cluster config)", func() string {
		select {
		case err := <-exited:
			t.Fatalf("buildah run exited: %v\n%s", err, exporter.Redact(logs.String()))
		default:
		}
		st, body, err := get("/readyz", "")
		if err != nil || st != 200 {
			return fmt.Sprintf("HTTP %d %v %.200s", st, err, body)
		}
		return ""
	})
	ship.WaitFor(t, 10*time.Second, "/metrics serves exactly the sample objects", func() string {
		st, body, err := get("/metrics", scrapeToken)
		if err != nil || st != 200 {
			return fmt.Sprintf("HTTP %d %v %.200s", st, err, body)
		}
		var got []string
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "memcached_info{") {
				got = append(got, l)
			}
		}
		sort.Strings(got)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			return fmt.Sprintf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return ""
	})

	// The process: the image's binary, as the image's user, no capabilities.
	for _, p := range shipProcs() {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", p, "cmdline"))
		argv := strings.Split(string(cmdline), "\x00")
		if argv[0] == "/usr/bin/crd-state-metrics" && strings.Contains(string(cmdline), fmt.Sprintf("--port=%d\x00", port)) {
			fmt.Sscan(p, &pid)
		}
	}
	if pid == 0 {
		t.Fatal("cannot find the exporter process")
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	wantID := func(n int64) string { return strings.Repeat(fmt.Sprint(n)+" ", 3) + fmt.Sprint(n) }
	if fields["Uid"] != wantID(uid) || fields["Gid"] != wantID(gid) {
		t.Errorf("the exporter runs as Uid %q Gid %q, want %d/%d", fields["Uid"], fields["Gid"], uid, gid)
	}
	if fields["CapEff"] != "0000000000000000" {
		t.Errorf("the exporter has effective capabilities %s", fields["CapEff"])
	}
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	t.Logf("exporter pid %d: exe %s, Uid %s, Gid %s, CapEff %s", pid, exe, fields["Uid"], fields["Gid"], fields["CapEff"])

	// SIGTERM, as the kubelet stops a pod: a clean exit.
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		pid = 0
		if err != nil {
			t.Errorf("after SIGTERM: buildah run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the exporter did not exit within 15s of SIGTERM")
	}

	// Nothing written into the image's filesystem (buildah run itself puts
	// /etc/hosts, /etc/resolv.conf and /etc/hostname there).
	after := ship.Snapshot(t, root)
	buildahFiles := map[string]bool{"/etc/hosts": true, "/etc/resolv.conf": true, "/etc/hostname": true}
	for p, st := range after {
		if buildahFiles[p] {
			continue
		}
		if was, ok := before[p]; !ok {
			t.Errorf("the exporter created %s in the image's filesystem", p)
		} else if was != st {
			t.Errorf("the exporter changed %s in the image's filesystem", p)
		}
	}
	t.Logf("image's filesystem unchanged: %d files", len(before))
}

func shipProcs() []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if n := e.Name(); n[0] >= '0' && n[0] <= '9' {
			out = append(out, n)
		}
	}
	return out
}
