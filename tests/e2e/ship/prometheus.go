package ship

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Prometheus is a real Prometheus server (Debian's prometheus package) run as
// a local process with a generated configuration.
type Prometheus struct {
	URL     string
	Dir     string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
}

// StartPrometheus writes config (marshalled to JSON, which is YAML) and the
// rule files (name -> content) into a temp dir, starts prometheus on a free
// loopback port and waits until it is ready. It is stopped with SIGTERM on
// cleanup; on failure its log tail is printed.
func StartPrometheus(t testing.TB, config map[string]any, ruleFiles map[string][]byte) *Prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus not found (Debian package prometheus; scripts/e2e installs it): %v", err)
	}
	dir := t.TempDir()
	var rules []string
	for name, content := range ruleFiles {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		rules = append(rules, p)
	}
	sort.Strings(rules)
	cfg := map[string]any{}
	for k, v := range config {
		cfg[k] = v
	}
	cfg["rule_files"] = rules
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("promtool", "check", "config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s\n%s", err, out, b)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &Prometheus{URL: "http://" + addr, Dir: dir, LogPath: filepath.Join(dir, "prometheus.log"), done: make(chan struct{})}
	logf, err := os.Create(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=info")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t.Logf("starting %s (config %s, log %s)", strings.Join(p.cmd.Args, " "), cfgPath, p.LogPath)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("prometheus log tail:\n%s", p.LogTail(30))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("prometheus exited during start-up:\n%s", p.LogTail(30))
		default:
		}
		if resp, err := http.Get(p.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 60s:\n%s", p.LogTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// LogTail returns the last n lines of Prometheus' log.
func (p *Prometheus) LogTail(n int) string {
	b, _ := os.ReadFile(p.LogPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Sample is one element of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Key is the sample's labels without __name__, as {a="x",b="y"} sorted.
func (s Sample) Key() string {
	var ks []string
	for k, v := range s.Labels {
		if k != "__name__" {
			ks = append(ks, fmt.Sprintf("%s=%q", k, v))
		}
	}
	sort.Strings(ks)
	return "{" + strings.Join(ks, ",") + "}"
}

func (p *Prometheus) api(path string, params url.Values, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, env.ErrorType, env.Error)
	}
	return json.Unmarshal(env.Data, out)
}

// Query runs an instant query at time at (zero: now) through the HTTP API and
// returns the vector (a scalar result is one sample without labels).
func (p *Prometheus) Query(expr string, at time.Time) ([]Sample, error) {
	params := url.Values{"query": {expr}}
	if !at.IsZero() {
		params.Set("time", strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64))
	}
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.api("/api/v1/query", params, &data); err != nil {
		return nil, err
	}
	parse := func(v []any) (float64, error) {
		if len(v) != 2 {
			return 0, fmt.Errorf("bad value %v", v)
		}
		s, _ := v[1].(string)
		return strconv.ParseFloat(s, 64)
	}
	switch data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &vec); err != nil {
			return nil, err
		}
		out := make([]Sample, 0, len(vec))
		for _, e := range vec {
			f, err := parse(e.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, Sample{Labels: e.Metric, Value: f})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
		return out, nil
	case "scalar":
		var v []any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, err
		}
		f, err := parse(v)
		return []Sample{{Labels: map[string]string{}, Value: f}}, err
	}
	return nil, fmt.Errorf("result type %s", data.ResultType)
}

// RuleHealth is one loaded rule as /api/v1/rules reports it.
type RuleHealth struct {
	Group, Name, Health, LastError string
}

// Rules returns every loaded rule with its evaluation health.
func (p *Prometheus) Rules() ([]RuleHealth, error) {
	var data struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := p.api("/api/v1/rules", url.Values{}, &data); err != nil {
		return nil, err
	}
	var out []RuleHealth
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			out = append(out, RuleHealth{Group: g.Name, Name: r.Name, Health: r.Health, LastError: r.LastError})
		}
	}
	return out, nil
}

var camel = regexp.MustCompile(`([a-z0-9])([A-Z])`)

// snake turns a ServiceMonitor field name (sourceLabels) into the Prometheus
// configuration's (source_labels).
func snake(s string) string { return strings.ToLower(camel.ReplaceAllString(s, "${1}_${2}")) }

// ScrapeTLS is how the test reaches the exporter when it serves TLS.
type ScrapeTLS struct {
	CAFile, TokenFile string
}

// ScrapeConfig translates a ServiceMonitor endpoint into the scrape_config the
// Prometheus Operator would generate for one target (address, with the
// discovery labels it would attach as targetLabels): job name, path, scheme,
// honor_labels, interval, TLS (ca_file, server_name; never
// insecure_skip_verify), bearer_token_file and relabelings. With tls nil the
// scheme is forced to http and TLS/token settings are left out.
func ScrapeConfig(t testing.TB, sm *unstructured.Unstructured, endpoint int, address string,
	targetLabels map[string]string, tls *ScrapeTLS, interval string) map[string]any {
	t.Helper()
	eps := Slice(sm.Object, "spec", "endpoints")
	if endpoint >= len(eps) {
		t.Fatalf("ServiceMonitor %s has no endpoint %d", sm.GetName(), endpoint)
	}
	ep := eps[endpoint].(map[string]any)
	sc := map[string]any{
		"job_name":        fmt.Sprintf("serviceMonitor/%s/%s/%d", sm.GetNamespace(), sm.GetName(), endpoint),
		"honor_labels":    ep["honorLabels"] == true,
		"metrics_path":    Str(ep, "path"),
		"scrape_interval": interval,
		"scrape_timeout":  interval,
		"static_configs":  []any{map[string]any{"targets": []string{address}, "labels": targetLabels}},
	}
	if sc["metrics_path"] == "" {
		sc["metrics_path"] = "/metrics"
	}
	if tls != nil {
		sc["scheme"] = Str(ep, "scheme")
		tc := map[string]any{"ca_file": tls.CAFile, "insecure_skip_verify": false}
		if sn := Str(ep, "tlsConfig", "serverName"); sn != "" {
			tc["server_name"] = sn
		}
		sc["tls_config"] = tc
		if Str(ep, "bearerTokenFile") != "" {
			sc["bearer_token_file"] = tls.TokenFile
		}
	} else {
		sc["scheme"] = "http"
	}
	var relabel []any
	for _, r := range Slice(ep, "relabelings") {
		rc := map[string]any{}
		for k, v := range r.(map[string]any) {
			rc[snake(k)] = v
		}
		relabel = append(relabel, rc)
	}
	if len(relabel) > 0 {
		sc["relabel_configs"] = relabel
	}
	return sc
}
