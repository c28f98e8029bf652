package helm

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const (
	observabilityDir = "nomnom/observability"
	alertsFile       = observabilityDir + "/alerts.yaml"
	alertTestsFile   = observabilityDir + "/alerts_test.yaml"
	dashboardFile    = observabilityDir + "/dashboard.json"
	prometheusRule   = "monitoring.coreos.com/v1/PrometheusRule"
	// moduleRoot is the nomnom module, whose Go files register the metrics.
	moduleRoot = "../.."
)

// alertRules is the part of a Prometheus rule file the tests read.
type alertRules struct {
	Groups []struct {
		Rules []struct {
			Alert string `json:"alert"`
			Expr  string `json:"expr"`
		} `json:"rules"`
	} `json:"groups"`
}

// alertTests is the part of a promtool test file the tests read.
type alertTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `json:"alertname"`
			ExpAlerts []any  `json:"exp_alerts"`
		} `json:"alert_rule_test"`
	} `json:"tests"`
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

// TestObservabilityObjects renders the dashboard and alerts in each of
// their forms: nothing by default, ConfigMaps on a plain cluster, and a
// PrometheusRule where the Prometheus Operator's CRD is served.
func TestObservabilityObjects(t *testing.T) {
	dashboard, alerts := "prod-nomnom-dashboard", "prod-nomnom-alerts"
	enabled := append([]string{"observability.dashboard.enabled=true", "observability.alerts.enabled=true", "observability.alerts.labels.release=kps"}, minimal...)

	m := mustRender(t, renderOpts{set: minimal})
	for _, name := range []string{dashboard, alerts} {
		if _, ok := m.find("ConfigMap", name); ok {
			t.Errorf("ConfigMap %s rendered though observability is disabled by default", name)
		}
	}

	m = mustRender(t, renderOpts{set: enabled})
	cm := decode[corev1.ConfigMap](t, m, "ConfigMap", dashboard)
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v lack grafana_dashboard: \"1\" (Grafana's sidecar would not load it)", cm.Labels)
	}
	if got, want := cm.Data["nomnom.json"], strings.TrimSpace(string(readFile(t, dashboardFile))); got != want {
		t.Errorf("dashboard ConfigMap holds %d bytes, want the %d of %s", len(got), len(want), dashboardFile)
	}
	if !json.Valid([]byte(cm.Data["nomnom.json"])) {
		t.Errorf("dashboard ConfigMap's nomnom.json is not JSON")
	}
	rulesCM := decode[corev1.ConfigMap](t, m, "ConfigMap", alerts)
	if got, want := rulesCM.Data["alerts.yaml"], strings.TrimSpace(string(readFile(t, alertsFile))); got != want {
		t.Errorf("alerts ConfigMap's alerts.yaml differs from %s:\n%s", alertsFile, got)
	}
	if rulesCM.Labels["release"] != "kps" {
		t.Errorf("alerts ConfigMap labels %v lack observability.alerts.labels", rulesCM.Labels)
	}
	if n := len(m.ofKind("PrometheusRule")); n != 0 {
		t.Errorf("%d PrometheusRules rendered for a cluster without %s", n, prometheusRule)
	}

	m = mustRender(t, renderOpts{set: enabled, apis: []string{"monitoring.coreos.com/v1", prometheusRule}})
	if _, ok := m.find("ConfigMap", alerts); ok {
		t.Errorf("alerts ConfigMap rendered beside the PrometheusRule")
	}
	o, ok := m.find("PrometheusRule", alerts)
	if !ok {
		t.Fatalf("no PrometheusRule %s rendered for a cluster serving %s; have %v", alerts, prometheusRule, m.names())
	}
	var rule struct {
		Metadata struct{ Labels map[string]string }
		Spec     map[string]any
	}
	if err := yaml.Unmarshal(o.Raw, &rule); err != nil {
		t.Fatalf("PrometheusRule %s: %v", alerts, err)
	}
	var want map[string]any
	if err := yaml.Unmarshal(readFile(t, alertsFile), &want); err != nil {
		t.Fatalf("parse %s: %v", alertsFile, err)
	}
	got, _ := json.Marshal(rule.Spec)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(got, wantJSON) || want["groups"] == nil {
		t.Errorf("PrometheusRule spec\n%s\nwant the rule file %s\n%s", got, alertsFile, wantJSON)
	}
	if rule.Metadata.Labels["release"] != "kps" {
		t.Errorf("PrometheusRule labels %v lack observability.alerts.labels", rule.Metadata.Labels)
	}
}

// TestAlertRulesPromtool runs promtool over the rules and their unit tests.
// promtool is Debian's prometheus package; CI installs it, and a machine
// without it fails here rather than skipping the check.
func TestAlertRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not installed (apt-get install prometheus): %v", err)
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = observabilityDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestEveryAlertTested requires each alert to have a promtool test that
// expects it to fire.
func TestEveryAlertTested(t *testing.T) {
	var rules alertRules
	if err := yaml.Unmarshal(readFile(t, alertsFile), &rules); err != nil {
		t.Fatalf("parse %s: %v", alertsFile, err)
	}
	var tests alertTests
	if err := yaml.Unmarshal(readFile(t, alertTestsFile), &tests); err != nil {
		t.Fatalf("parse %s: %v", alertTestsFile, err)
	}
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if !fires[r.Alert] {
				t.Errorf("alert %s has no test in %s that expects it to fire", r.Alert, alertTestsFile)
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s holds no alert", alertsFile)
	}
}

var (
	registeredName = regexp.MustCompile(`Name:\s*"(nomnom_[a-z0-9_]+)"`)
	referencedName = regexp.MustCompile(`nomnom_[a-z0-9_]+`)
)

// TestObservabilityMetricsExported checks that every metric the dashboard
// and the alerts read is one the module's code registers, so a renamed
// metric cannot leave a panel empty or an alert silent.
func TestObservabilityMetricsExported(t *testing.T) {
	exported := registeredMetrics(t)
	for _, file := range []string{alertsFile, dashboardFile} {
		refs := referencedName.FindAllString(string(readFile(t, file)), -1)
		if len(refs) == 0 {
			t.Errorf("%s references no nomnom metric", file)
		}
		for _, name := range refs {
			if !exported[seriesMetric(name, exported)] {
				t.Errorf("%s reads %s, which no Go file of the module registers", file, name)
			}
		}
	}
}

// seriesMetric maps a histogram's series (_bucket, _sum, _count) to its
// metric's name.
func seriesMetric(name string, exported map[string]bool) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && exported[base] {
			return base
		}
	}
	return name
}

// registeredMetrics lists the metric names the module's non-test Go files
// give to prometheus options (Name: "nomnom_...").
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	err := filepath.WalkDir(moduleRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "deploy" || strings.HasPrefix(d.Name(), ".")) && path != moduleRoot {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range registeredName.FindAllSubmatch(src, -1) {
			names[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", moduleRoot, err)
	}
	if len(names) < 10 {
		keys := make([]string, 0, len(names))
		for k := range names {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Fatalf("found only %d registered metrics under %s (%v): is the walk looking at the module?", len(names), moduleRoot, keys)
	}
	return names
}
