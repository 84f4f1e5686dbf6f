package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/headsup-dev/headsup/internal/bus"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/hub"
)

// runWith runs headsupd's command line with args and returns the Config it
// would run the hub with.
func runWith(t *testing.T, args ...string) (hub.Config, error) {
	t.Helper()
	var got hub.Config
	cmd := newCommand(func(_ context.Context, c hub.Config) error { got = c; return nil })
	err := cmd.Run(context.Background(), append([]string{"headsupd", "--log-level", "error"}, args...))
	return got, err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const examplePath = "../../deploy/hub.yaml"

// TestEveryFlagHasAKey: each flag reads a HEADSUP_* variable and is a key
// of the config file, and the example file shows every key (set or
// commented out), so an operator finds each setting there.
func TestEveryFlagHasAKey(t *testing.T) {
	cmd := command()
	keys := fileKeys(cmd)
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var example map[string]any
	if err := yaml.Unmarshal(b, &example); err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^#\s*([a-z0-9-]+):`).FindAllStringSubmatch(string(b), -1) {
		example[m[1]] = nil
	}
	for _, f := range cmd.Flags {
		name := f.Names()[0]
		if name == "help" {
			continue
		}
		env := "HEADSUP_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if !strings.Contains(f.String(), "$"+env) {
			t.Errorf("--%s does not read $%s", name, env)
		}
		if name == "config" {
			continue
		}
		if !keys[name] {
			t.Errorf("--%s is no config file key", name)
		}
		if _, ok := example[name]; !ok {
			t.Errorf("--%s is missing from %s", name, examplePath)
		}
	}
	for k := range example {
		if !keys[k] {
			t.Errorf("%s has key %q, which is no flag", examplePath, k)
		}
	}
}

// TestDeployExampleLoads: the example file is a valid config file and
// reaches the hub's Config; a variable wins over it.
func TestDeployExampleLoads(t *testing.T) {
	_, vkey, err := directory.GenerateGovernanceKey("federation")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HEADSUP_DIRECTORY_VERIFIER", vkey) // the file names a path that does not exist here
	cfg, err := runWith(t, "--config", examplePath)
	if err != nil {
		t.Fatal(err)
	}
	want := "tls://nats-1.example.internal:4222,tls://nats-2.example.internal:4222,tls://nats-3.example.internal:4222"
	switch {
	case cfg.NATSURL != want:
		t.Errorf("NATSURL %q, want %q", cfg.NATSURL, want)
	case cfg.Replicas != 3:
		t.Errorf("Replicas %d, want 3", cfg.Replicas)
	case cfg.NATS.CredsFile != "/run/credentials/headsupd.service/nats.creds" || cfg.NATS.CAFile == "":
		t.Errorf("NATS %+v", cfg.NATS)
	case cfg.Origin != "hub.example.net:7443" || cfg.LogKeyFile == "" || cfg.DirectoryVerifier != vkey:
		t.Errorf("origin %q, log key %q, verifier %q", cfg.Origin, cfg.LogKeyFile, cfg.DirectoryVerifier)
	case cfg.MetricsListen != "127.0.0.1:9463":
		t.Errorf("MetricsListen %q", cfg.MetricsListen)
	}
}

func TestConfigFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string
		args  []string
		env   map[string]string
		check func(hub.Config) bool
		err   string
	}{
		{
			name: "file sets what nothing else does",
			file: "publish-rate: 2.5\nfsync: interval\nmetrics-listen: \"\"\nnats-url: nats://a:4222, nats://b:4222\n",
			check: func(c hub.Config) bool {
				return c.PublishRate == 2.5 && c.Fsync == bus.FsyncInterval && c.MetricsListen == "" && c.NATSURL == "nats://a:4222,nats://b:4222"
			},
		},
		{
			name:  "flag wins",
			file:  "publish-burst: 7\n",
			args:  []string{"--publish-burst", "9"},
			check: func(c hub.Config) bool { return c.PublishBurst == 9 },
		},
		{
			name:  "environment wins",
			file:  "publish-burst: 7\n",
			env:   map[string]string{"HEADSUP_PUBLISH_BURST": "11"},
			check: func(c hub.Config) bool { return c.PublishBurst == 11 },
		},
		{
			name:  "empty file",
			file:  "# nothing\n",
			check: func(c hub.Config) bool { return c.MetricsListen == hub.DefaultMetricsListen && c.Replicas == 1 },
		},
		{name: "unknown key", file: "listen: 127.0.0.1:1\npublish_rate: 3\n", err: `line 2: unknown key "publish_rate"`},
		{name: "repeated key", file: "replicas: 1\nreplicas: 3\n", err: `line 2: key "replicas" repeats line 1`},
		{name: "no value", file: "log-key:\n", err: "log-key: no value"},
		{name: "bad value", file: "replicas: three\n", err: `replicas: "three"`},
		{name: "list for a single value", file: "listen: [a, b]\n", err: "listen: want a single value"},
		{name: "config in config", file: "config: other.yaml\n", err: `unknown key "config"`},
		{name: "not a mapping", file: "- listen\n", err: "want a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := runWith(t, append([]string{"--config", writeFile(t, "hub.yaml", tc.file)}, tc.args...)...)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.check != nil && !tc.check(cfg):
				t.Fatalf("config %+v", cfg)
			}
		})
	}
}

func TestNATSFlags(t *testing.T) {
	pwFile := writeFile(t, "password", "hunter2\n")
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		check func(hub.Config) bool
		err   string
	}{
		{
			name: "several URLs and a creds file",
			args: []string{"--nats-url", "nats://a:4222,tls://b:4222", "--nats-creds", "hub.creds", "--nats-ca", "ca.pem", "--replicas", "3"},
			check: func(c hub.Config) bool {
				return c.NATSURL == "nats://a:4222,tls://b:4222" && c.NATS.CredsFile == "hub.creds" && c.NATS.CAFile == "ca.pem" && c.Replicas == 3
			},
		},
		{
			name:  "password from a file",
			args:  []string{"--nats-url", "nats://a:4222", "--nats-user", "headsupd", "--nats-password-file", pwFile},
			check: func(c hub.Config) bool { return c.NATS.User == "headsupd" && c.NATS.Password == "hunter2" },
		},
		{
			name:  "password from the environment",
			args:  []string{"--nats-url", "nats://a:4222", "--nats-user", "headsupd"},
			env:   map[string]string{passwordEnv: "hunter3"},
			check: func(c hub.Config) bool { return c.NATS.Password == "hunter3" },
		},
		{name: "password in the URL", args: []string{"--nats-url", "nats://headsupd:hunter2@a:4222"}, err: "nats://headsupd:xxxxx@a:4222 carries credentials"},
		{name: "bad scheme", args: []string{"--nats-url", "http://a:4222"}, err: `scheme "http"`},
		{name: "not a URL", args: []string{"--nats-url", "a:4222"}, err: `"a:4222" is not a URL`},
		{name: "two identities", args: []string{"--nats-url", "nats://a:4222", "--nats-creds", "x", "--nats-nkey", "y"}, err: "choose one way"},
		{name: "user without password", args: []string{"--nats-url", "nats://a:4222", "--nats-user", "headsupd"}, err: "needs a password"},
		{name: "file and environment", args: []string{"--nats-url", "nats://a:4222", "--nats-user", "u", "--nats-password-file", pwFile}, env: map[string]string{passwordEnv: "x"}, err: "choose one"},
		{name: "cert without key", args: []string{"--nats-url", "nats://a:4222", "--nats-cert", "c.pem"}, err: "give both or neither"},
		{name: "credentials for the embedded server", args: []string{"--nats-creds", "x"}, err: "only with --nats-url"},
		{name: "R3 embedded", args: []string{"--replicas", "3"}, err: "needs a NATS cluster"},
		{name: "too many replicas", args: []string{"--nats-url", "nats://a:4222", "--replicas", "7"}, err: "want 1 to 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := runWith(t, tc.args...)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.check != nil && !tc.check(cfg):
				t.Fatalf("config %+v", cfg)
			}
		})
	}
}
