package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/flood"
	"github.com/headsup-dev/headsup/internal/recheck"
	"github.com/headsup-dev/headsup/internal/sink"
)

// File is the agent's configuration file (YAML). Every field has a flag
// and a HEADSUP_* variable of the same name in headsup-agent; flags win.
//
//	hub: 127.0.0.1:7443
//	member: voxhost
//	directory: directory.yaml
//	state: headsup-agent-state
//	max_hops: 3
//	customers:
//	  - file: customers.csv
//	    link: https://desk.example/customers/{customer_id}
//	  - postgres:
//	      url_env: CUSTOMERS_DATABASE_URL   # the URL is a secret: read from the environment
//	      query: SELECT customer_id, display_name, type, value FROM abuse_identifiers
//	      channel: customers_changed
//	      interval: 5m
//	sinks:
//	  - jsonl: "-"                # stdout; or a file path
//	  - text: "-"                 # the human rendering
//	  - webhook: https://desk.example/hooks/headsup
//	    secret_env: HEADSUP_WEBHOOK_SECRET
//	    filter: {min_strength: strong, min_severity: high, max_tlp: amber, reasons: [abusive-content, fraud]}
//	    flood: {group_window: 10m, digest_threshold: 20, digest_window: 10m, integrity_window: 1h}  # absent: no flood control
//	outbox_max: 100000            # each sink's backlog; past it the oldest are skipped for that sink, with an alarm
//	verify_sightings: false       # live TLS re-checks of sightings on alerts' paths
//	verify_timeout: 5s
//	verify_window: 1h             # at most one attempt per (host, address) per window
//	verify_concurrency: 4
//	metrics_listen: 127.0.0.1:9464  # Prometheus /metrics and /healthz; "" turns it off
//	alarm_after: 5m               # alarm when disconnected from the hub, or the customer list stale, this long
//	witness_key: witness.pem      # witness the hub's log (headsup keygen --use witness); absent: no witnessing
//	witness_state: headsup-agent-state/witness  # the witness's own state, never rebuilt from the hub
//	witness_listen: 127.0.0.1:7445  # serve the latest cosigned checkpoint at witness_url's path
//	log_check: 1m                 # how often the hub's latest checkpoint is verified (and cosigned)
//	quorum_freshness: 10m         # integrity alert when no checkpoint reached the witness quorum this long; 0 turns it off
//	severity:                     # the base severity per RSIT reason; see alert.SeverityTable
//	  default: medium             # a reason the table does not name
//	  reasons:                    # class or class:type; replaces or adds to the default table
//	    abusive-content:spam: medium
//	    fraud: high
//	shared_domains: [myplatform.example]
//	mailbox_providers: [mail.example]
//	transit_asns: [64499]
//	check_listen: 127.0.0.1:7444  # the local API for signup and support tools; "" turns it off
type File struct {
	Hub               string         `yaml:"hub"`
	CA                string         `yaml:"ca"`
	Member            string         `yaml:"member"`
	Directory         string         `yaml:"directory"`
	CallKey           string         `yaml:"call_key"`        // file of the call key (PEM)
	TLSClientCert     string         `yaml:"tls_client_cert"` // mTLS instead of call tokens
	TLSClientKey      string         `yaml:"tls_client_key"`
	Origin            string         `yaml:"origin"`
	DirectoryVerifier string         `yaml:"directory_verifier"` // the key, or a file holding it
	State             string         `yaml:"state"`
	MaxHops           int            `yaml:"max_hops"`
	Customers         []CustomerFile `yaml:"customers"`
	Sinks             []SinkFile     `yaml:"sinks"`
	SharedDomains     []string       `yaml:"shared_domains"`
	MailboxProviders  []string       `yaml:"mailbox_providers"`
	TransitASNs       []uint32       `yaml:"transit_asns"`
	// OwnASNs, OwnPrefixes and OwnDomains add to this provider's identity
	// as the directory gives it (space not announced in the directory).
	OwnASNs     []uint32          `yaml:"own_asns"`
	OwnPrefixes []string          `yaml:"own_prefixes"`
	OwnDomains  []string          `yaml:"own_domains"`
	HashKeys    map[string]string `yaml:"hash_keys"` // key id -> file holding the HMAC key
	// CheckListen is the local API's loopback address; absent keeps the
	// default, "" turns the API off.
	CheckListen *string `yaml:"check_listen"`
	// Severity overrides the default severity table.
	Severity SeverityFile `yaml:"severity"`
	// OutboxMax bounds each sink's backlog (Config.OutboxMax).
	OutboxMax int `yaml:"outbox_max"`
	// VerifySightings turns on live re-checks of sightings; the verify_*
	// keys tune them (zero: recheck's defaults). VerifyPort and
	// VerifyAllowPrivate are for labs and tests: production re-checks
	// port 443 of public addresses only.
	VerifySightings    bool          `yaml:"verify_sightings"`
	VerifyTimeout      time.Duration `yaml:"verify_timeout"`
	VerifyWindow       time.Duration `yaml:"verify_window"`
	VerifyConcurrency  int           `yaml:"verify_concurrency"`
	VerifyPort         int           `yaml:"verify_port"`
	VerifyAllowPrivate bool          `yaml:"verify_allow_private"`
	// MetricsListen is the metrics endpoint's address; absent keeps the
	// default, "" turns it off. MetricsAllowRemote lets it listen beyond
	// loopback.
	MetricsListen      *string `yaml:"metrics_listen"`
	MetricsAllowRemote bool    `yaml:"metrics_allow_remote"`
	// AlarmAfter is Config.AlarmAfter.
	AlarmAfter time.Duration `yaml:"alarm_after"`
	// WitnessKey is the file of the member's witness key (PEM);
	// WitnessState, WitnessListen and LogCheck are the Config fields of
	// the same names.
	WitnessKey    string        `yaml:"witness_key"`
	WitnessState  string        `yaml:"witness_state"`
	WitnessListen string        `yaml:"witness_listen"`
	LogCheck      time.Duration `yaml:"log_check"`
	// QuorumFreshness is Config.QuorumFreshness; absent keeps the
	// default, 0 turns it off.
	QuorumFreshness *time.Duration `yaml:"quorum_freshness"`
}

// FloodFile is one sink's flood control (package flood); a zero field
// takes flood's default.
type FloodFile struct {
	GroupWindow     time.Duration `yaml:"group_window"`
	DigestThreshold int           `yaml:"digest_threshold"`
	DigestWindow    time.Duration `yaml:"digest_window"`
	IntegrityWindow time.Duration `yaml:"integrity_window"`
	MaxPending      int           `yaml:"max_pending"`
}

// SeverityFile overrides entries of alert.DefaultSeverityTable.
type SeverityFile struct {
	Default string            `yaml:"default"`
	Reasons map[string]string `yaml:"reasons"`
}

// CustomerFile is one customer source: a file or PostgreSQL.
type CustomerFile struct {
	File     string        `yaml:"file"`
	Link     string        `yaml:"link"`
	Postgres *PostgresFile `yaml:"postgres"`
}

// PostgresFile configures a PostgreSQL customer source.
type PostgresFile struct {
	URLEnv           string        `yaml:"url_env"`
	Query            string        `yaml:"query"`
	IncrementalQuery string        `yaml:"incremental_query"`
	Channel          string        `yaml:"channel"`
	Interval         time.Duration `yaml:"interval"`
	Debounce         time.Duration `yaml:"debounce"`
	Link             string        `yaml:"link"`
}

// SinkFile is one alert sink with its filter.
type SinkFile struct {
	JSONL     string     `yaml:"jsonl"`
	Text      string     `yaml:"text"`
	Webhook   string     `yaml:"webhook"`
	SecretEnv string     `yaml:"secret_env"`
	Filter    FilterFile `yaml:"filter"`
	// Flood, when present (even empty: all defaults), shapes what the
	// sink emits.
	Flood *FloodFile `yaml:"flood"`
}

// FilterFile is a sink filter.
type FilterFile struct {
	Reasons     []string `yaml:"reasons"`
	MinStrength string   `yaml:"min_strength"`
	MinSeverity string   `yaml:"min_severity"`
	Issuers     []string `yaml:"issuers"`
	MaxTLP      string   `yaml:"max_tlp"`
	Types       []string `yaml:"types"`
}

// ReadFile parses a configuration file; unknown keys are errors naming
// them and their line.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f File
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// Apply sets what f configures on cfg and opens its sources and sinks.
// The returned closer closes the sinks' files.
func (f *File) Apply(cfg *Config, stdout io.Writer, logger *slog.Logger) (io.Closer, error) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Hub, f.Hub)
	set(&cfg.CAFile, f.CA)
	set(&cfg.TLSClientCert, f.TLSClientCert)
	set(&cfg.TLSClientKey, f.TLSClientKey)
	set(&cfg.Member, f.Member)
	set(&cfg.DirectoryPath, f.Directory)
	set(&cfg.Origin, f.Origin)
	if f.CallKey != "" {
		key, err := directory.LoadPrivateKey(f.CallKey)
		if err != nil {
			return nil, fmt.Errorf("call_key: %w", err)
		}
		cfg.CallKey = key
	}
	if f.DirectoryVerifier != "" {
		vkey, err := directory.ReadVerifierKey(f.DirectoryVerifier)
		if err != nil {
			return nil, fmt.Errorf("directory_verifier: %w", err)
		}
		cfg.DirectoryVerifier = vkey
	}
	set(&cfg.StateDir, f.State)
	if f.MaxHops != 0 {
		cfg.MaxHops = f.MaxHops
	}
	if f.CheckListen != nil {
		cfg.CheckListen = *f.CheckListen
	}
	if f.MetricsListen != nil {
		cfg.MetricsListen = *f.MetricsListen
	}
	cfg.MetricsAllowNonLoopback = cfg.MetricsAllowNonLoopback || f.MetricsAllowRemote
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"alarm_after", f.AlarmAfter}, {"verify_timeout", f.VerifyTimeout}, {"verify_window", f.VerifyWindow}} {
		if d.v < 0 {
			return nil, fmt.Errorf("%s: %v must not be negative", d.name, d.v)
		}
	}
	if f.AlarmAfter != 0 {
		cfg.AlarmAfter = f.AlarmAfter
	}
	if f.WitnessKey != "" {
		key, err := directory.LoadPrivateKey(f.WitnessKey)
		if err != nil {
			return nil, fmt.Errorf("witness_key: %w", err)
		}
		cfg.WitnessKey = key
	}
	set(&cfg.WitnessState, f.WitnessState)
	set(&cfg.WitnessListen, f.WitnessListen)
	switch {
	case f.LogCheck < 0:
		return nil, fmt.Errorf("log_check: %v must not be negative", f.LogCheck)
	case f.LogCheck > 0:
		cfg.LogCheck = f.LogCheck
	}
	if q := f.QuorumFreshness; q != nil {
		switch {
		case *q < 0:
			return nil, fmt.Errorf("quorum_freshness: %v must not be negative", *q)
		case *q == 0:
			cfg.QuorumFreshness = -1 // off
		default:
			cfg.QuorumFreshness = *q
		}
	}
	switch {
	case f.OutboxMax < 0:
		return nil, fmt.Errorf("outbox_max: %d must not be negative", f.OutboxMax)
	case f.OutboxMax > 0:
		cfg.OutboxMax = f.OutboxMax
	}
	if f.VerifySightings {
		cfg.VerifySightings = true
		cfg.Recheck.Timeout, cfg.Recheck.Window, cfg.Recheck.Concurrency = f.VerifyTimeout, f.VerifyWindow, f.VerifyConcurrency
		cfg.Recheck.Port, cfg.Recheck.AllowPrivate = f.VerifyPort, f.VerifyAllowPrivate
		if _, err := recheck.New(cfg.Recheck); err != nil {
			return nil, fmt.Errorf("verify_*: %w", err)
		}
	}
	if f.Severity.Default != "" || len(f.Severity.Reasons) > 0 {
		tab := cfg.Severity
		if tab.Reasons == nil {
			tab = alert.DefaultSeverityTable()
		}
		tab = tab.WithOverrides(f.Severity.Reasons, f.Severity.Default)
		if err := tab.Validate(); err != nil {
			return nil, err
		}
		cfg.Severity = tab
	}
	cfg.Match.SharedDomains = append(cfg.Match.SharedDomains, f.SharedDomains...)
	cfg.Match.MailboxProviders = append(cfg.Match.MailboxProviders, f.MailboxProviders...)
	cfg.Match.TransitASNs = append(cfg.Match.TransitASNs, f.TransitASNs...)
	cfg.Match.OwnASNs = append(cfg.Match.OwnASNs, f.OwnASNs...)
	cfg.Match.OwnDomains = append(cfg.Match.OwnDomains, f.OwnDomains...)
	for i, p := range f.OwnPrefixes {
		prefix, err := netip.ParsePrefix(p)
		if err != nil || prefix != prefix.Masked() {
			return nil, fmt.Errorf("own_prefixes[%d]: %q is not a masked prefix", i, p)
		}
		cfg.Match.OwnPrefixes = append(cfg.Match.OwnPrefixes, prefix)
	}
	for id, path := range f.HashKeys {
		key, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("hash_keys.%s: %w", id, err)
		}
		if cfg.Match.HashKeys == nil {
			cfg.Match.HashKeys = map[string][]byte{}
		}
		cfg.Match.HashKeys[id] = bytes.TrimSpace(key)
	}
	for i, c := range f.Customers {
		switch {
		case c.File != "" && c.Postgres == nil:
			cfg.Customers = append(cfg.Customers, customers.NewFile(c.File, c.Link, logger))
		case c.Postgres != nil && c.File == "":
			url := os.Getenv(c.Postgres.URLEnv)
			if c.Postgres.URLEnv == "" || url == "" {
				return nil, fmt.Errorf("customers[%d].postgres.url_env: name an environment variable that holds the database URL (%q is empty)", i, c.Postgres.URLEnv)
			}
			pg, err := customers.NewPostgres(customers.PostgresConfig{URL: url, Query: c.Postgres.Query, IncrementalQuery: c.Postgres.IncrementalQuery,
				Channel: c.Postgres.Channel, Interval: c.Postgres.Interval, Debounce: c.Postgres.Debounce, LinkTemplate: c.Postgres.Link, Logger: logger})
			if err != nil {
				return nil, fmt.Errorf("customers[%d].postgres: %w", i, err)
			}
			cfg.Customers = append(cfg.Customers, pg)
		default:
			return nil, fmt.Errorf("customers[%d]: set exactly one of file, postgres", i)
		}
	}
	var closers closeAll
	for i, s := range f.Sinks {
		filter := sink.Filter{ReasonPrefixes: s.Filter.Reasons, MinStrength: s.Filter.MinStrength, MinSeverity: s.Filter.MinSeverity, Issuers: s.Filter.Issuers, MaxTLP: s.Filter.MaxTLP, Types: s.Filter.Types}
		if err := filter.Validate(); err != nil {
			closers.Close()
			return nil, fmt.Errorf("sinks[%d].filter: %w", i, err)
		}
		out, closer, err := openSink(s, stdout)
		if err != nil {
			closers.Close()
			return nil, fmt.Errorf("sinks[%d]: %w", i, err)
		}
		if closer != nil {
			closers = append(closers, closer)
		}
		var fl *flood.Config
		if s.Flood != nil {
			fl = &flood.Config{GroupWindow: s.Flood.GroupWindow, DigestThreshold: s.Flood.DigestThreshold, DigestWindow: s.Flood.DigestWindow,
				IntegrityWindow: s.Flood.IntegrityWindow, MaxPending: s.Flood.MaxPending}
			if err := fl.Validate(); err != nil {
				closers.Close()
				return nil, fmt.Errorf("sinks[%d].flood.%w", i, err)
			}
		}
		cfg.Outputs = append(cfg.Outputs, Output{Sink: out, Filter: filter, Flood: fl})
	}
	return closers, nil
}

func openSink(s SinkFile, stdout io.Writer) (sink.Sink, io.Closer, error) {
	set := 0
	for _, v := range []string{s.JSONL, s.Text, s.Webhook} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return nil, nil, errors.New("set exactly one of jsonl, text, webhook")
	}
	switch {
	case s.JSONL == "-":
		return sink.NewJSONLines(stdout, "jsonl:stdout"), nil, nil
	case s.JSONL != "":
		return sink.OpenJSONLinesFile(s.JSONL)
	case s.Text == "-":
		return sink.NewText(stdout, "text:stdout"), nil, nil
	case s.Text != "":
		f, err := os.OpenFile(s.Text, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, err
		}
		return sink.NewText(f, "text:"+s.Text), f, nil
	}
	secret := os.Getenv(s.SecretEnv)
	if s.SecretEnv == "" || secret == "" {
		return nil, nil, fmt.Errorf("secret_env: name an environment variable that holds the webhook secret (%q is empty)", s.SecretEnv)
	}
	cfg := sink.WebhookConfig{URL: s.Webhook, Secret: []byte(secret)}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("webhook: %w", err)
	}
	return sink.NewWebhook(cfg), nil, nil
}

type closeAll []io.Closer

func (c closeAll) Close() error {
	var errs []string
	for _, x := range c {
		if err := x.Close(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
