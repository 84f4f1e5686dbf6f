package agent_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/flood"
)

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TEST_WEBHOOK_SECRET", "0123456789abcdef0123456789abcdef")
	tests := []struct {
		name, yaml, wantErr string
		check               func(t *testing.T, cfg agent.Config)
	}{
		{name: "everything", yaml: `
hub: hub.example:7443
member: voxhost
directory: dir.yaml
state: st
max_hops: 2
customers:
  - file: customers.csv
    link: https://desk.example/c/{customer_id}
sinks:
  - jsonl: "-"
  - text: ` + filepath.Join(dir, "alerts.txt") + `
  - webhook: https://desk.example/hook
    secret_env: TEST_WEBHOOK_SECRET
    filter: {min_strength: strong, min_severity: high, max_tlp: amber}
transit_asns: [64499]
severity:
  default: low
  reasons: {abusive-content:spam: high, fraud: critical}
own_prefixes: [203.0.113.0/24]
`, check: func(t *testing.T, cfg agent.Config) {
			if cfg.Hub != "hub.example:7443" || cfg.Member != "voxhost" || cfg.MaxHops != 2 || len(cfg.Customers) != 1 || len(cfg.Outputs) != 3 {
				t.Fatalf("config = %+v", cfg)
			}
			if len(cfg.Match.OwnPrefixes) != 1 || cfg.Match.OwnPrefixes[0].String() != "203.0.113.0/24" {
				t.Fatalf("own prefixes = %v", cfg.Match.OwnPrefixes)
			}
			if f := cfg.Outputs[2].Filter; f.MinStrength != "strong" || f.MaxTLP != "amber" || f.MinSeverity != "high" {
				t.Fatalf("webhook filter = %+v", f)
			}
			for reason, want := range map[string]string{
				"abusive-content:spam":                "high",     // overridden
				"fraud:copyright":                     "low",      // the default's own class:type entry stays
				"fraud:unauthorised-use-of-resources": "critical", // the new class entry
				"abusive-content:violence":            "critical", // untouched
				"novel:thing":                         "low",      // the new default
			} {
				if got := cfg.Severity.Base(reason); got != want {
					t.Errorf("severity base of %s = %s, want %s", reason, got, want)
				}
			}
		}},
		{name: "misspelt key", yaml: "member: voxhost\ncustomer:\n  - file: c.csv\n", wantErr: "field customer not found"},
		{name: "two kinds in one source", yaml: "customers:\n  - file: c.csv\n    postgres: {url_env: X}\n", wantErr: "customers[0]: set exactly one of file, postgres"},
		{name: "postgres URL not in the environment", yaml: "customers:\n  - postgres: {url_env: NOT_SET_ANYWHERE, query: SELECT 1}\n", wantErr: "customers[0].postgres.url_env"},
		{name: "two kinds in one sink", yaml: "sinks:\n  - jsonl: \"-\"\n    text: \"-\"\n", wantErr: "sinks[0]: set exactly one of jsonl, text, webhook"},
		{name: "webhook without secret", yaml: "sinks:\n  - webhook: https://desk.example/hook\n", wantErr: "sinks[0]: secret_env"},
		{name: "own prefix with host bits", yaml: "own_prefixes: [203.0.113.7/24]\n", wantErr: "own_prefixes[0]"},
		{name: "bad severity level", yaml: "severity:\n  reasons: {fraud:phishing: urgent}\n", wantErr: `severity.reasons["fraud:phishing"]: "urgent"`},
		{name: "bad severity reason", yaml: "severity:\n  reasons: {Fraud: high}\n", wantErr: `severity.reasons: "Fraud"`},
		{name: "bad severity default", yaml: "severity: {default: severe}\n", wantErr: `severity.default: "severe"`},
		{name: "bad min severity", yaml: "sinks:\n  - jsonl: \"-\"\n    filter: {min_severity: urgent}\n", wantErr: "sinks[0].filter: min_severity"},
		{name: "bad filter", yaml: "sinks:\n  - jsonl: \"-\"\n    filter: {max_tlp: purple}\n", wantErr: "sinks[0].filter"},
		{name: "watching and shaping", yaml: `
sinks:
  - jsonl: "-"
  - jsonl: "-"
    flood: {group_window: 2m, digest_threshold: 5, digest_window: 3m, integrity_window: 4m}
  - jsonl: "-"
    flood: {}
outbox_max: 500
verify_sightings: true
verify_timeout: 2s
verify_window: 30m
verify_concurrency: 2
verify_port: 8443
metrics_listen: 127.0.0.1:19464
alarm_after: 90s
`, check: func(t *testing.T, cfg agent.Config) {
			if cfg.Outputs[0].Flood != nil {
				t.Errorf("a sink without flood: %+v, want none", cfg.Outputs[0].Flood)
			}
			if f := cfg.Outputs[1].Flood; f == nil || f.GroupWindow != 2*time.Minute || f.DigestThreshold != 5 || f.DigestWindow != 3*time.Minute || f.IntegrityWindow != 4*time.Minute {
				t.Errorf("flood = %+v", f)
			}
			if f := cfg.Outputs[2].Flood; f == nil || *f != (flood.Config{}) {
				t.Errorf("flood: {} = %+v, want the defaults", f)
			}
			if cfg.OutboxMax != 500 || !cfg.VerifySightings || cfg.MetricsListen != "127.0.0.1:19464" || cfg.AlarmAfter != 90*time.Second {
				t.Errorf("config = %+v", cfg)
			}
			if r := cfg.Recheck; r.Timeout != 2*time.Second || r.Window != 30*time.Minute || r.Concurrency != 2 || r.Port != 8443 || r.AllowPrivate {
				t.Errorf("recheck = %+v", r)
			}
		}},
		{name: "metrics off", yaml: "metrics_listen: \"\"\n", check: func(t *testing.T, cfg agent.Config) {
			if cfg.MetricsListen != "" {
				t.Errorf("metrics_listen = %q, want off", cfg.MetricsListen)
			}
		}},
		{name: "bad flood", yaml: "sinks:\n  - jsonl: \"-\"\n    flood: {digest_window: -1m}\n", wantErr: "sinks[0].flood.digest_window"},
		{name: "bad outbox bound", yaml: "outbox_max: -1\n", wantErr: "outbox_max"},
		{name: "bad verify port", yaml: "verify_sightings: true\nverify_port: 70000\n", wantErr: "verify_*: recheck: config: Port 70000"},
		{name: "negative alarm", yaml: "alarm_after: -5m\n", wantErr: "alarm_after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := agent.ReadFile(path)
			cfg := agent.DefaultConfig()
			if err == nil {
				var c io.Closer
				c, err = f.Apply(&cfg, io.Discard, slog.New(slog.DiscardHandler))
				if c != nil {
					defer c.Close()
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, cfg)
		})
	}
}
