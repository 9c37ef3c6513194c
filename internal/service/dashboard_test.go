package service

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"vmrd/internal/config"
)

const dashboardPath = "../../deploy/grafana-dashboard.json"

// newTestService builds (does not start) vmrd; the caller closes it from a minimal configuration:
// one room, SIP on a free loopback UDP port, HTTP off.
func newTestService(t *testing.T) *Service {
	t.Helper()
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := u.LocalAddr().(*net.UDPAddr).Port
	_ = u.Close()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
sip:
  listen: ["udp:127.0.0.1:%d"]
media:
  rtp_ports: "20000-20099"
  bind_ip: 127.0.0.1
  encryption: preferred
http:
  listen: ""
log:
  level: error
rooms:
  - number: "1001"
`, port)), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(cfg, discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// exported is what a scrape of vmrd shows: family name -> type and, per
// label name, the values its series carry (all of them for vmrd's own
// collectors, which emit every label value even at zero).
type exported map[string]exportedFamily

type exportedFamily struct {
	typ    dto.MetricType
	labels map[string][]string
}

func gatherExported(t *testing.T, svc *Service) exported {
	t.Helper()
	fams, err := svc.Metrics().Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := exported{}
	for _, f := range fams {
		ef := exportedFamily{typ: f.GetType(), labels: map[string][]string{}}
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !slices.Contains(ef.labels[lp.GetName()], lp.GetValue()) {
					ef.labels[lp.GetName()] = append(ef.labels[lp.GetName()], lp.GetValue())
				}
			}
		}
		out[f.GetName()] = ef
	}
	return out
}

// family maps a series name to the family that exports it: histograms and
// summaries export name_bucket, name_sum and name_count.
func (e exported) family(name string) (string, exportedFamily, bool) {
	if f, ok := e[name]; ok {
		return name, f, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		f, ok := e[base]
		if !ok {
			continue
		}
		if f.typ == dto.MetricType_HISTOGRAM || f.typ == dto.MetricType_GAUGE_HISTOGRAM ||
			(f.typ == dto.MetricType_SUMMARY && suffix != "_bucket") {
			if suffix == "_bucket" {
				f.labels = map[string][]string{"le": nil}
			}
			return base, f, true
		}
	}
	return "", exportedFamily{}, false
}

// selector is one metric reference in a PromQL expression: the name and
// its exact-match (=) label matchers.
type selector struct {
	name  string
	exact map[string]string
}

var (
	promString     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promRange      = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping   = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	promIdentOrSel = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\{[^}]*\})?(\s*\()?`)
	promMatcher    = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	grafanaLabelQ  = regexp.MustCompile(`label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)`)
)

// promKeywords are the words of PromQL that are neither functions (always
// followed by '(') nor metric names.
var promKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "offset": true, "and": true, "or": true, "unless": true, "inf": true, "nan": true, "atan2": true,
}

// parsePromQL returns the metric selectors of expr and the label names its
// groupings (by, without, on, ignoring) use. It is a lexer, not a parser:
// enough for dashboards, strict enough that a misspelt metric is found.
func parsePromQL(expr string) (sels []selector, grouping []string) {
	for _, m := range promGrouping.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[2], ",") {
			if l = strings.TrimSpace(l); l != "" {
				grouping = append(grouping, l)
			}
		}
	}
	// Label matchers first (they hold strings), then strings, ranges and
	// groupings go, so what is left are names, functions and numbers.
	var matchers []string
	expr = regexp.MustCompile(`\{[^}]*\}`).ReplaceAllStringFunc(expr, func(s string) string {
		matchers = append(matchers, s)
		// The placeholder holds no digit, so the number pass below
		// leaves it alone.
		return "{" + string(rune('a'+len(matchers)-1)) + "}"
	})
	expr = promString.ReplaceAllString(expr, `""`)
	expr = promRange.ReplaceAllString(expr, "")
	expr = promGrouping.ReplaceAllString(expr, " ")
	expr = regexp.MustCompile(`\b[0-9]+(ms|s|m|h|d|w|y)\b`).ReplaceAllString(expr, " ")
	// Numbers such as 1e-9 or 0.99 must not read as identifiers.
	expr = regexp.MustCompile(`\b[0-9][0-9.]*(e[+-]?[0-9]+)?\b`).ReplaceAllString(expr, " ")
	for _, m := range promIdentOrSel.FindAllStringSubmatch(expr, -1) {
		word := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.SplitN(m[0], "{", 2)[0]), "("))
		if m[2] != "" && m[1] == "" { // a function call
			continue
		}
		if promKeywords[strings.ToLower(word)] {
			continue
		}
		s := selector{name: word, exact: map[string]string{}}
		if m[1] != "" {
			ph := strings.Trim(strings.TrimSpace(m[1]), "{}")
			if idx := int(ph[0] - 'a'); len(ph) == 1 && idx >= 0 && idx < len(matchers) {
				for _, lm := range promMatcher.FindAllStringSubmatch(matchers[idx], -1) {
					if lm[2] == "=" {
						s.exact[lm[1]] = lm[3]
					}
				}
			}
		}
		sels = append(sels, s)
	}
	return sels, grouping
}

func TestParsePromQL(t *testing.T) {
	for _, tc := range []struct {
		name     string
		expr     string
		metrics  []string
		grouping []string
	}{
		{"rate by label", `sum by (result) (rate(vmrd_calls_total{instance=~"$instance"}[$__rate_interval]))`, []string{"vmrd_calls_total"}, []string{"result"}},
		{"histogram quantile", `histogram_quantile(0.99, sum by (le) (rate(vmrd_mixer_tick_seconds_bucket[5m])))`, []string{"vmrd_mixer_tick_seconds_bucket"}, []string{"le"}},
		{"ratio with numbers", `sum(rate(a_total[1m])) / clamp_min(sum(rate(b_total{x="1e-9"}[1m])), 1e-9) * 8`, []string{"a_total", "b_total"}, nil},
		{"keywords and binary ops", `a and on (instance) b or c unless bool d offset 5m`, []string{"a", "b", "c", "d"}, []string{"instance"}},
		{"bare selector", `vmrd_calls_active`, []string{"vmrd_calls_active"}, nil},
		{"label value looks like a name", `x{reason="vmrd_fake_total"}`, []string{"x"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sels, grouping := parsePromQL(tc.expr)
			var names []string
			for _, s := range sels {
				names = append(names, s.name)
			}
			if !slices.Equal(names, tc.metrics) || !slices.Equal(grouping, tc.grouping) {
				t.Errorf("parsePromQL(%q) = %v, %v; want %v, %v", tc.expr, names, grouping, tc.metrics, tc.grouping)
			}
		})
	}
	sels, _ := parsePromQL(`rate(vmrd_rtp_packets_total{instance=~"$i",direction="in"}[1m])`)
	if len(sels) != 1 || sels[0].exact["direction"] != "in" || len(sels[0].exact) != 1 {
		t.Errorf("exact matchers = %+v, want direction=in only", sels)
	}
}

// dashboardQueries walks the dashboard JSON and returns every PromQL
// expression (panel and row targets) and templating query, with where it was found.
func dashboardQueries(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var root any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatalf("%s is not JSON: %v", path, err)
	}
	out := map[string]string{}
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch x := v.(type) {
		case map[string]any:
			if title, ok := x["title"].(string); ok {
				where = title
			}
			if e, ok := x["expr"].(string); ok {
				out[e] = where
			}
			for k, c := range x {
				if s, ok := c.(string); ok && (k == "query" || k == "definition") {
					for _, m := range grafanaLabelQ.FindAllStringSubmatch(s, -1) {
						out[m[1]] = "variable " + fmt.Sprint(x["name"])
					}
				}
				walk(c, where)
			}
		case []any:
			for _, c := range x {
				walk(c, where)
			}
		}
	}
	walk(root, "")
	return out
}

// checkQueries returns what is wrong with the dashboard's queries against
// what vmrd exports, and the vmrd families the queries use.
func checkQueries(exp exported, queries map[string]string) (problems []string, used map[string]bool) {
	used = map[string]bool{}
	for expr, where := range queries {
		sels, grouping := parsePromQL(expr)
		if len(sels) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no metric in %q", where, expr))
		}
		labelsHere := map[string]bool{}
		for _, s := range sels {
			fam, f, ok := exp.family(s.name)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %q uses %s, which vmrd does not export", where, expr, s.name))
				continue
			}
			used[fam] = true
			for l := range f.labels {
				labelsHere[l] = true
			}
			for l, v := range s.exact {
				if scrapeLabels[l] {
					continue
				}
				if !slices.Contains(f.labels[l], v) {
					problems = append(problems, fmt.Sprintf("%s: %s{%s=%q}: vmrd exports %s values %v", where, s.name, l, v, l, f.labels[l]))
				}
			}
		}
		for _, l := range grouping {
			if !scrapeLabels[l] && !labelsHere[l] {
				problems = append(problems, fmt.Sprintf("%s: %q groups by %q, which none of its metrics has", where, expr, l))
			}
		}
	}
	slices.Sort(problems)
	return problems, used
}

// scrapeLabels are added by Prometheus, not by vmrd.
var scrapeLabels = map[string]bool{"instance": true, "job": true}

// TestDashboardMetricsExist: every metric the Grafana dashboard queries is
// one vmrd exports, every exact label matcher names a label value vmrd
// emits, and every grouping label is a label of a metric in that query.
func TestDashboardMetricsExist(t *testing.T) {
	svc := newTestService(t)
	defer svc.Close()
	exp := gatherExported(t, svc)
	queries := dashboardQueries(t, dashboardPath)
	if len(queries) < 20 {
		t.Fatalf("found only %d queries in %s; the walker is broken or the dashboard is empty", len(queries), dashboardPath)
	}
	problems, used := checkQueries(exp, queries)
	for _, p := range problems {
		t.Error(p)
	}
	// The dashboard should cover vmrd's own families; list what it leaves out.
	var unused []string
	for name := range exp {
		if strings.HasPrefix(name, "vmrd_") && !used[name] {
			unused = append(unused, name)
		}
	}
	slices.Sort(unused)
	if len(unused) > 0 {
		t.Logf("vmrd metrics the dashboard does not show: %v", unused)
	}
}

// TestDashboardCheckCatchesUnknownMetric: the check above is able to fail.
func TestDashboardCheckCatchesUnknownMetric(t *testing.T) {
	svc := newTestService(t)
	defer svc.Close()
	exp := gatherExported(t, svc)
	problems, _ := checkQueries(exp, map[string]string{
		`sum(rate(vmrd_call_total[5m]))`:                                                  "misspelt",
		`rate(vmrd_video_keyframes_total{direction="in"}[5m])`:                            "wrong label value",
		`sum by (reason) (rate(vmrd_calls_total[5m]))`:                                    "wrong grouping label",
		`histogram_quantile(0.9, rate(vmrd_calls_active_bucket[5m]))`:                     "gauge has no buckets",
		`sum by (result) (rate(vmrd_calls_total{direction!="x"}[5m]))`:                    "fine",
		`histogram_quantile(0.9, sum by (le) (rate(vmrd_rtp_jitter_seconds_bucket[5m])))`: "fine",
	})
	want := []string{"misspelt", "wrong label value", "wrong grouping label", "gauge has no buckets"}
	if len(problems) != len(want) {
		t.Errorf("checkQueries found %d problems, want %d: %q", len(problems), len(want), problems)
	}
	for _, w := range want {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, w+":") }) {
			t.Errorf("checkQueries missed %q: %q", w, problems)
		}
	}
	for _, tc := range []struct {
		series string
		ok     bool
	}{
		{"vmrd_calls_total", true},
		{"vmrd_rtp_jitter_seconds_bucket", true},
		{"vmrd_mixer_tick_seconds_count", true},
		{"process_open_fds", true},
		{"go_goroutines", true},
		{"vmrd_call_total", false},
		{"vmrd_calls_total_bucket", false}, // a counter has no buckets
		{"up", false},                      // Prometheus makes it, not vmrd
	} {
		if _, _, ok := exp.family(tc.series); ok != tc.ok {
			t.Errorf("family(%q) found %v, want %v", tc.series, ok, tc.ok)
		}
	}
}
