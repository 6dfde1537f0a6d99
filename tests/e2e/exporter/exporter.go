// Package exporter starts the C crd-state-metrics binary for end-to-end tests,
// fetches its endpoints and checks exposition bodies.
package exporter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"crd-state-metrics/tests/e2e/cluster"
)

// Binary returns the exporter binary: $CSM_EXPORTER, else
// <repo>/build/src/crd-state-metrics. It does not check that it exists.
func Binary() string {
	if p := os.Getenv("CSM_EXPORTER"); p != "" {
		if !filepath.IsAbs(p) {
			if abs, err := filepath.Abs(filepath.Join(cluster.RepoRoot(), p)); err == nil {
				if _, err := os.Stat(abs); err == nil {
					return abs
				}
			}
			if abs, err := filepath.Abs(p); err == nil {
				return abs
			}
		}
		return p
	}
	return filepath.Join(cluster.RepoRoot(), "build", "src", "crd-state-metrics")
}

// Options for Start.
type Options struct {
	Kubeconfig string   // passed as --kubeconfig unless empty
	Resources  []string // each passed as --resource GROUP/VERSION/KIND
	Args       []string // further flags, appended last
	Env        []string // extra environment (KEY=VALUE)
	// NoListenFlags leaves out --host/--port/--telemetry-host/--telemetry-port;
	// then set Port/TelemetryPort yourself so that Start can wait for them.
	NoListenFlags       bool
	Port, TelemetryPort int // 0: pick free ports
	// StartTimeout bounds the wait for the metrics port to accept connections
	// (default 20s).
	StartTimeout time.Duration
	// UncleanExit, when not empty, says why this test lets the exporter end
	// other than by exiting 0 after SIGTERM (it kills it, or expects it to
	// exit on its own); the cleanup then logs the exit status instead of
	// failing on it. Sanitizer reports in the log fail the test regardless.
	// A test that kills one exporter of several calls Kill instead.
	UncleanExit string
}

// Exporter is a running exporter process.
type Exporter struct {
	Port, TelemetryPort int
	URL                 string // http://127.0.0.1:<Port>
	TelemetryURL        string // http://127.0.0.1:<TelemetryPort>
	LogPath             string // stdout+stderr of the process
	Args                []string

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	stopped sync.Once
	t       testing.TB

	mu          sync.Mutex
	uncleanWhy  string // Options.UncleanExit, or Kill's reason
	sigtermSent bool   // Stop signalled the process (it had not exited before)
}

// Start runs the exporter with opts, captures its output in t.TempDir()/exporter.log,
// waits until its metrics port (and telemetry port, if set) accept connections and
// registers a cleanup that stops it with SIGTERM. It fails the test if the binary is
// missing or the process exits early; the log tail is then printed (tokens redacted).
//
// The cleanup also fails the test (t.Errorf, so the test that started this
// exporter is the one that fails) unless the exporter exited with status 0
// after that SIGTERM (or an earlier Stop), and whenever its log holds
// sanitizer output (AddressSanitizer, LeakSanitizer, UBSan "runtime error").
// Options.UncleanExit and Kill are how a test says it ends the process
// otherwise on purpose.
func Start(t testing.TB, opts Options) *Exporter {
	t.Helper()
	bin := Binary()
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("exporter binary %s not found (build it, or set CSM_EXPORTER): %v", bin, err)
	}
	e := &Exporter{Port: opts.Port, TelemetryPort: opts.TelemetryPort, t: t, done: make(chan struct{}),
		uncleanWhy: opts.UncleanExit}
	if !opts.NoListenFlags {
		if e.Port == 0 {
			e.Port = FreePort(t)
		}
		if e.TelemetryPort == 0 {
			e.TelemetryPort = FreePort(t)
		}
	}
	var args []string
	if opts.Kubeconfig != "" {
		args = append(args, "--kubeconfig", opts.Kubeconfig)
	}
	for _, r := range opts.Resources {
		args = append(args, "--resource", r)
	}
	if !opts.NoListenFlags {
		args = append(args, "--host", "127.0.0.1", "--port", strconv.Itoa(e.Port),
			"--telemetry-host", "127.0.0.1", "--telemetry-port", strconv.Itoa(e.TelemetryPort))
	}
	args = append(args, opts.Args...)
	e.Args = args
	e.URL = fmt.Sprintf("http://127.0.0.1:%d", e.Port)
	e.TelemetryURL = fmt.Sprintf("http://127.0.0.1:%d", e.TelemetryPort)
	e.LogPath = filepath.Join(t.TempDir(), "exporter.log")
	logf, err := os.Create(e.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	e.cmd = exec.Command(bin, args...)
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	e.cmd.Env = append(os.Environ(), opts.Env...)
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t.Logf("starting %s %s (log %s)", bin, strings.Join(args, " "), e.LogPath)
	if err := e.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start exporter: %v", err)
	}
	go func() {
		e.waitErr = e.cmd.Wait()
		logf.Close()
		close(e.done)
	}()
	t.Cleanup(func() {
		if err := e.Stop(10 * time.Second); err != nil {
			t.Errorf("stopping exporter: %v", err)
		}
		e.checkExit(t)
		if t.Failed() {
			t.Logf("exporter log tail (%s):\n%s", e.LogPath, e.LogTail(60))
		}
	})

	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	for _, p := range []int{e.Port, e.TelemetryPort} {
		if p == 0 {
			continue
		}
		if err := e.waitPort(p, timeout); err != nil {
			t.Fatalf("exporter: %v\nlog tail:\n%s", err, e.LogTail(60))
		}
	}
	return e
}

func (e *Exporter) waitPort(port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		if e.Exited() {
			return fmt.Errorf("exited before listening on %s: %v", addr, e.waitErr)
		}
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listening on %s after %v", addr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Exited reports whether the process has exited.
func (e *Exporter) Exited() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// ExitErr is the result of Wait once the process exited (nil: exit status 0).
func (e *Exporter) ExitErr() error {
	<-e.done
	return e.waitErr
}

// Stop sends SIGTERM and waits up to timeout for the process to exit, then kills
// it. It returns an error if SIGKILL was needed; the exit status is logged (and
// checked by Start's cleanup). Safe to call more than once.
func (e *Exporter) Stop(timeout time.Duration) error {
	var err error
	e.stopped.Do(func() {
		if e.Exited() {
			e.t.Logf("exporter had already exited: %v", e.waitErr)
			return
		}
		t0 := time.Now()
		e.mu.Lock()
		e.sigtermSent = true
		e.mu.Unlock()
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.done:
			e.t.Logf("exporter stopped by SIGTERM after %v (exit: %v)", time.Since(t0).Round(time.Millisecond), describeExit(e.waitErr))
		case <-time.After(timeout):
			_ = e.cmd.Process.Kill()
			<-e.done
			err = fmt.Errorf("exporter did not exit within %v of SIGTERM; killed", timeout)
		}
	})
	return err
}

// Kill ends the process with SIGKILL on purpose and waits for it; reason says
// why (it is logged), and Start's cleanup then does not require exit status 0.
// The log is still checked for sanitizer reports.
func (e *Exporter) Kill(reason string) {
	e.mu.Lock()
	e.uncleanWhy = reason
	e.mu.Unlock()
	e.t.Logf("killing exporter (pid %d) on purpose: %s", e.Pid(), reason)
	_ = e.cmd.Process.Kill()
	<-e.done
}

// sanitizerRe matches the first line of a sanitizer report: ASan/LSan
// ("==123==ERROR: AddressSanitizer: ...", "ERROR: LeakSanitizer: ..."), UBSan
// ("file.c:12:5: runtime error: ..."), and their SUMMARY lines.
var sanitizerRe = regexp.MustCompile(`(?m)^.*(ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: AddressSanitizer|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer|: runtime error: ).*$`)

// SanitizerReports returns the lines of log that start a sanitizer report
// (nil if none).
func SanitizerReports(log string) []string { return sanitizerRe.FindAllString(log, -1) }

// checkExit fails t (Errorf) if the exporter's log has sanitizer output, or if
// it did not exit with status 0 after Stop's SIGTERM and no test said why.
func (e *Exporter) checkExit(t testing.TB) {
	t.Helper()
	<-e.done
	if rep := SanitizerReports(e.Logs()); len(rep) > 0 {
		t.Errorf("exporter log %s has %d sanitizer report line(s):\n%s", e.LogPath, len(rep), strings.Join(rep, "\n"))
	}
	e.mu.Lock()
	why, termed := e.uncleanWhy, e.sigtermSent
	e.mu.Unlock()
	switch {
	case why != "":
		t.Logf("exporter ended with %s (allowed: %s)", describeExit(e.waitErr), why)
	case !termed:
		t.Errorf("exporter exited on its own before it was stopped (%s); set Options.UncleanExit or call Kill if the test means it", describeExit(e.waitErr))
	case e.waitErr != nil:
		t.Errorf("exporter exited with %s after SIGTERM, want status 0", describeExit(e.waitErr))
	}
}

func describeExit(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// Signal sends sig to the process (e.g. SIGHUP).
func (e *Exporter) Signal(sig os.Signal) error { return e.cmd.Process.Signal(sig) }

// Pid is the process id.
func (e *Exporter) Pid() int { return e.cmd.Process.Pid }

var jwtRe = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+`)

// Redact replaces anything that looks like a JWT (service-account tokens) with
// "<redacted>".
func Redact(s string) string { return jwtRe.ReplaceAllString(s, "<redacted>") }

// Logs returns the whole log so far (tokens redacted).
func (e *Exporter) Logs() string {
	b, _ := os.ReadFile(e.LogPath)
	return Redact(string(b))
}

// LogTail returns the last n lines of the log (tokens redacted).
func (e *Exporter) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(e.Logs(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitReady polls GET <URL>/readyz until it answers 200 and returns how long that
// took; it fails the test after timeout or if the process exits.
func (e *Exporter) WaitReady(t testing.TB, timeout time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	var last string
	for {
		if e.Exited() {
			t.Fatalf("exporter exited while waiting for /readyz: %v\nlog tail:\n%s", e.waitErr, e.LogTail(60))
		}
		st, body, _, err := Get(e.URL + "/readyz")
		if err == nil && st == http.StatusOK {
			return time.Since(t0)
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("HTTP %d %q", st, truncate(string(body), 200))
		}
		if time.Since(t0) > timeout {
			t.Fatalf("exporter /readyz not 200 after %v (last: %s)\nlog tail:\n%s", timeout, last, e.LogTail(60))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}

// Get fetches url (optionally with extra request headers as "Name: value") and
// returns status, body and response headers. No automatic gzip decoding.
func Get(url string, headers ...string) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return 0, nil, nil, fmt.Errorf("bad header %q", h)
		}
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Header, err
}

// MustGet is Get that fails the test on a transport error or a status other than
// 200, and returns the body.
func MustGet(t testing.TB, url string, headers ...string) string {
	t.Helper()
	st, body, _, err := Get(url, headers...)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if st != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d: %s", url, st, truncate(string(body), 500))
	}
	return string(body)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// --- exposition bodies ------------------------------------------------------------

// Family is one metric family of a text-format body: its comment lines
// (# HELP / # TYPE, in order) and its sample lines.
type Family struct {
	Name     string
	Comments []string
	Samples  []string
}

// ParseFamilies splits a Prometheus text body into families in body order. A
// family starts at its first # HELP/# TYPE line or at a sample whose metric name
// differs from the current family (histogram/summary suffixes are kept with
// their family). Blank lines are an error, as is a body not ending in "\n"
// (unless empty).
func ParseFamilies(body string) ([]Family, error) {
	if body == "" {
		return nil, nil
	}
	if !strings.HasSuffix(body, "\n") {
		return nil, errors.New("body does not end with a newline")
	}
	var fams []Family
	cur := func() *Family {
		if len(fams) == 0 {
			return nil
		}
		return &fams[len(fams)-1]
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1024*1024), 64*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case line == "":
			return nil, fmt.Errorf("line %d: empty line", n)
		case strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) < 3 {
				return nil, fmt.Errorf("line %d: malformed %q", n, line)
			}
			name := f[2]
			if c := cur(); c == nil || c.Name != name || len(c.Samples) > 0 {
				fams = append(fams, Family{Name: name})
			}
			cur().Comments = append(cur().Comments, line)
		case strings.HasPrefix(line, "#"):
			c := cur()
			if c == nil {
				fams = append(fams, Family{})
				c = cur()
			}
			c.Comments = append(c.Comments, line)
		default:
			name := line
			if i := strings.IndexAny(line, "{ "); i >= 0 {
				name = line[:i]
			}
			if c := cur(); c == nil || !belongs(c.Name, name) {
				fams = append(fams, Family{Name: name})
			}
			cur().Samples = append(cur().Samples, line)
		}
	}
	return fams, sc.Err()
}

func belongs(family, metric string) bool {
	if family == metric {
		return true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count", "_total", "_created", "_info"} {
		if family+suf == metric {
			return true
		}
	}
	return false
}

// Normalize returns body with the sample lines of each family sorted; comment
// lines and the order of families are unchanged. It fails on a duplicate line or
// a family that appears twice.
func Normalize(body string) (string, error) {
	fams, err := ParseFamilies(body)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	seenFam := map[string]bool{}
	seenLine := map[string]bool{}
	for _, f := range fams {
		if f.Name != "" && seenFam[f.Name] {
			return "", fmt.Errorf("family %q appears more than once (not contiguous)", f.Name)
		}
		seenFam[f.Name] = true
		for _, l := range f.Comments {
			b.WriteString(l + "\n")
		}
		s := append([]string(nil), f.Samples...)
		sort.Strings(s)
		for _, l := range s {
			if seenLine[l] {
				return "", fmt.Errorf("duplicate sample line %q", l)
			}
			seenLine[l] = true
			b.WriteString(l + "\n")
		}
	}
	return b.String(), nil
}

// Promtool runs `promtool check metrics` on body and returns its complaints ("" if
// none). It fails the test if promtool is not installed (scripts/e2e installs it).
func Promtool(t testing.TB, body string) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (apt-get install prometheus): %v", err)
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	msg := strings.TrimSpace(out.String())
	if err != nil && msg == "" {
		msg = err.Error()
	}
	if err != nil || msg != "" {
		return msg
	}
	return ""
}
