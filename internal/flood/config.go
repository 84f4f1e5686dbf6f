package flood

import (
	"fmt"
	"time"
)

// Defaults for a zero [Config] field.
const (
	DefaultGroupWindow     = 10 * time.Minute
	DefaultDigestThreshold = 20
	DefaultDigestWindow    = 10 * time.Minute
	DefaultIntegrityWindow = time.Hour
	DefaultMaxPending      = 10000
)

// Config sets one sink's flood control. A zero field takes its default;
// a negative one is an error.
type Config struct {
	// GroupWindow: at most one event per group_key per window, plus the
	// latest held revision at its end (default 10m).
	GroupWindow time.Duration
	// DigestThreshold: more than this many distinct alert_ids for one
	// customer within DigestWindow are folded into a digest (default 20).
	DigestThreshold int
	// DigestWindow is the customer window (default 10m).
	DigestWindow time.Duration
	// IntegrityWindow: integrity alerts are deduplicated per (issuer, kid,
	// error) per window, with a count (default 1h).
	IntegrityWindow time.Duration
	// MaxPending bounds the open windows, held revisions and alert_ids
	// awaiting a digest or summary; past it the oldest window is closed
	// early (default 10000).
	MaxPending int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		GroupWindow:     DefaultGroupWindow,
		DigestThreshold: DefaultDigestThreshold,
		DigestWindow:    DefaultDigestWindow,
		IntegrityWindow: DefaultIntegrityWindow,
		MaxPending:      DefaultMaxPending,
	}
}

// Validate reports the first negative field, named as in a configuration
// file (the caller prefixes the sink's path).
func (c Config) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"group_window", c.GroupWindow},
		{"digest_window", c.DigestWindow},
		{"integrity_window", c.IntegrityWindow},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s %v: must not be negative", d.name, d.v)
		}
	}
	if c.DigestThreshold < 0 {
		return fmt.Errorf("digest_threshold %d: must not be negative", c.DigestThreshold)
	}
	if c.MaxPending < 0 {
		return fmt.Errorf("max_pending %d: must not be negative", c.MaxPending)
	}
	return nil
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.GroupWindow == 0 {
		c.GroupWindow = d.GroupWindow
	}
	if c.DigestThreshold == 0 {
		c.DigestThreshold = d.DigestThreshold
	}
	if c.DigestWindow == 0 {
		c.DigestWindow = d.DigestWindow
	}
	if c.IntegrityWindow == 0 {
		c.IntegrityWindow = d.IntegrityWindow
	}
	if c.MaxPending == 0 {
		c.MaxPending = d.MaxPending
	}
	return c
}
