package main

import (
	"strings"
	"testing"
)

func TestOrigin(t *testing.T) {
	for _, tc := range []struct {
		listen, flag string
		open         bool
		want, err    string
	}{
		{listen: "127.0.0.1:7443", want: "127.0.0.1:7443"},
		{listen: "0.0.0.0:7443", flag: "hub.example:7443", want: "hub.example:7443"},
		{listen: "127.0.0.1:7443", open: true, want: ""},
		{listen: "0.0.0.0:7443", open: true, err: "--open: refusing to serve 0.0.0.0:7443 without access control"},
		{listen: "127.0.0.1:7443", flag: "hub.example", open: true, err: "--open and --origin: choose one"},
	} {
		got, err := origin(tc.listen, tc.flag, tc.open)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("origin(%q, %q, %v) error %v, want %q", tc.listen, tc.flag, tc.open, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("origin(%q, %q, %v) = %q, %v; want %q", tc.listen, tc.flag, tc.open, got, err, tc.want)
		}
	}
}
