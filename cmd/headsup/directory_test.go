package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDirectoryExitStatus: usage mistakes exit 2, refusals of a file exit
// 1, each with one line on stderr naming the command.
func TestDirectoryExitStatus(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"directory"}, 2, "headsup: directory: missing command (keygen, sign or verify)\n"},
		{[]string{"directory", "bogus"}, 2, "headsup: directory: unknown command \"bogus\" (keygen, sign or verify)\n"},
		{[]string{"directory", "keygen", "--out", dir}, 2, "headsup: directory keygen: Required flag \"name\" not set\n"},
		{[]string{"directory", "keygen", "--name", "Gov", "--out", dir}, 2, "headsup: directory keygen: --name: governance key name \"Gov\" does not match ^[a-z0-9][a-z0-9.-]{0,62}$\n"},
		{[]string{"directory", "sign", "--key", "k"}, 2, "headsup: directory sign: takes one IN.yaml, got 0 arguments\n"},
		{[]string{"directory", "sign", "--key", "k", "--bogus", "x"}, 2, "headsup: directory sign: flag provided but not defined: -bogus\n"},
		{[]string{"directory", "sign", "--key", "k", "-o", "d.yaml", "d.yaml"}, 2, "headsup: directory sign: -o: d.yaml is the input; the signed directory goes to another file\n"},
		{[]string{"directory", "verify", "--verifier", "a+b+c", "f"}, 2, "headsup: directory verify: --verifier: \"a+b+c\" is not a verifier key (name+hash+base64): malformed verifier id\n"},
		{[]string{"directory", "verify", "--verifier", "test-governance.example+1e03dc7b+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs", "-"}, 1,
			"headsup: directory verify: -: no signature block (sign the YAML with headsup directory sign): directory not signed\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got := run(context.Background(), append([]string{"headsup"}, tt.args...), strings.NewReader("serial: 1\n"), &stdout, &stderr)
			if got != tt.status {
				t.Errorf("status %d, want %d (stderr %q)", got, tt.status, stderr.String())
			}
			if stderr.String() != tt.stderr {
				t.Errorf("stderr\n got %q\nwant %q", stderr.String(), tt.stderr)
			}
		})
	}
}
