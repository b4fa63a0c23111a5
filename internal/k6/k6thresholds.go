package k6

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/k6out"
	"github.com/floodharness/harness/internal/result"
)

// k6Threshold is one threshold of the script, e.g. http_req_failed
// "rate<0.01".
type k6Threshold struct {
	Metric, Expr string
	agg          string  // rate, count, p(99), med, avg, min, max, value
	op           string  // < <= > >= == != (=== as ==)
	bound        float64 // the number it is compared with
}

var thresholdExpr = regexp.MustCompile(`^\s*(rate|count|value|med|avg|min|max|p\(\s*[0-9.]+\s*\))\s*(<=|>=|===|==|!=|<|>)\s*(-?[0-9.eE+]+)\s*$`)

// k6Thresholds reads the script's thresholds as k6 resolves them (k6
// inspect, with the environment the instances get).
func (k Driver) k6Thresholds(ctx context.Context, job level) ([]k6Threshold, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := append(append([]string{"inspect"}, k6Env(job, len(k.Hosts) == 0)...), k.Script)
	out, err := exec.CommandContext(ctx, k.Bin, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("k6 inspect %s: %w", k.Script, err)
	}
	var opts struct {
		Thresholds map[string][]json.RawMessage `json:"thresholds"`
	}
	if err := json.Unmarshal(out, &opts); err != nil {
		return nil, fmt.Errorf("k6 inspect %s: %w", k.Script, err)
	}
	var ths []k6Threshold
	for metric, list := range opts.Thresholds {
		for _, raw := range list {
			var expr string
			if json.Unmarshal(raw, &expr) != nil {
				var obj struct {
					Threshold string `json:"threshold"`
				}
				if err := json.Unmarshal(raw, &obj); err != nil {
					return nil, fmt.Errorf("k6 threshold on %s: %s", metric, raw)
				}
				expr = obj.Threshold
			}
			th, err := parseThreshold(metric, expr)
			if err != nil {
				return nil, err
			}
			ths = append(ths, th)
		}
	}
	return ths, nil
}

// parseThreshold reads one threshold; an error means the harness cannot
// judge it on merged data (a tag filter, an unknown aggregation).
func parseThreshold(metric, expr string) (k6Threshold, error) {
	m := thresholdExpr.FindStringSubmatch(expr)
	if m == nil || strings.ContainsAny(metric, "{}") {
		return k6Threshold{}, fmt.Errorf("threshold %s %q cannot be judged on merged data", metric, expr)
	}
	bound, err := strconv.ParseFloat(m[3], 64)
	if err != nil {
		return k6Threshold{}, fmt.Errorf("threshold %s %q: %w", metric, expr, err)
	}
	op := m[2]
	if op == "===" {
		op = "=="
	}
	return k6Threshold{Metric: metric, Expr: expr, agg: strings.ReplaceAll(m[1], " ", ""), op: op, bound: bound}, nil
}

// value is the threshold's aggregation of the merged data, or false where
// the merged data has no such figure.
func (th k6Threshold) value(m k6out.Snapshot, seconds float64) (float64, bool) {
	dur := func(us int64) float64 { return float64(us) / 1000 }
	switch th.Metric + " " + th.agg {
	case "http_req_failed rate":
		if m.Requests == 0 {
			return 0, true
		}
		return float64(m.Failed) / float64(m.Requests), true
	case "http_reqs count":
		return float64(m.Requests), true
	case "http_reqs rate":
		return float64(m.Requests) / max(seconds, 1e-9), true
	case "data_received count":
		return float64(m.BytesReceived), true
	case "data_received rate":
		return float64(m.BytesReceived) / max(seconds, 1e-9), true
	case "http_req_duration med":
		return dur(m.DurationUs.Quantile(0.5)), true
	case "http_req_duration max":
		return dur(m.DurationUs.Max()), true
	case "http_req_duration min":
		return dur(m.DurationUs.Quantile(0)), true
	case "http_req_duration avg":
		return dur(m.DurationSumUs) / max(float64(m.DurationUs.Count()), 1), true
	}
	if th.Metric == "http_req_duration" && strings.HasPrefix(th.agg, "p(") {
		q, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(th.agg, "p("), ")"), 64)
		if err != nil || q < 0 || q > 100 {
			return 0, false
		}
		return dur(m.DurationUs.Quantile(q / 100)), true
	}
	if th.agg == "value" {
		v, ok := m.Gauges[th.Metric]
		return v, ok
	}
	return 0, false
}

// judge is whether v passes the threshold.
func (th k6Threshold) judge(v float64) bool {
	switch th.op {
	case "<":
		return v < th.bound
	case "<=":
		return v <= th.bound
	case ">":
		return v > th.bound
	case ">=":
		return v >= th.bound
	case "==":
		return v == th.bound
	case "!=":
		return v != th.bound
	}
	return false
}

// judgeAll judges every threshold on the merged data, as k6 would have on
// one instance's: k6's exit code 99 when one fails.
func judgeAll(ths []k6Threshold, m k6out.Snapshot, seconds float64) ([]result.K6Threshold, int, error) {
	var out []result.K6Threshold
	exit := 0
	for _, th := range ths {
		v, ok := th.value(m, seconds)
		if !ok {
			return nil, 0, fmt.Errorf("threshold %s %q: the merged data has no %s of %s", th.Metric, th.Expr, th.agg, th.Metric)
		}
		pass := th.judge(v)
		if !pass {
			exit = 99
		}
		out = append(out, result.K6Threshold{Metric: th.Metric, Expr: th.Expr, Value: v, OK: pass})
	}
	return out, exit, nil
}
