package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/headsup-dev/headsup/internal/match"
	"github.com/headsup-dev/headsup/internal/notice"
)

func hashCommand() *cli.Command {
	return &cli.Command{
		Name:      "hash",
		Usage:     "normalise a value and print its keyed hash, as notices and agents compute it",
		ArgsUsage: "TYPE VALUE",
		Description: "Normalises VALUE as a customer row of TYPE (host, prefix, email, organisation,\n" +
			"registration or phone; domain, ip, cidr and org are aliases) and prints\n" +
			"hmac-sha256:<key-id>:<type>:<hex>, the HMAC-SHA256 under the key of\n" +
			"\"headsup-v1\\0<type>\\0<normal form>\" (a prefix hashes as type address).\n" +
			"Put it in a notice's hashed identifiers to name a value without showing it.\n" +
			"\n" +
			"The key is the key file's bytes with surrounding white space trimmed, exactly\n" +
			"as the agent's hash_keys setting reads it: a hex or base64 text is used as\n" +
			"that text, never decoded, so every member holds the same file content. The\n" +
			"key id defaults to the file's base name without its extension. With\n" +
			"--directory, its test_network allows documentation addresses.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key-file", Usage: "the federation's hash key", Required: true, TakesFile: true},
			&cli.StringFlag{Name: "key-id", Usage: "the key's id (default: the key file's base name without extension)"},
		},
		Action: named("hash", hashValue),
	}
}

func hashValue(_ context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 2 {
		return usagef("takes TYPE VALUE, got %d arguments", cmd.NArg())
	}
	t, err := match.ParseType(cmd.Args().Get(0))
	if err != nil {
		return usagef("TYPE: %v", err)
	}
	htype := hashedType(t)
	if htype == "" {
		return usagef("TYPE: %s values are not hashed (host, prefix, email, organisation, registration, phone are)", t)
	}
	path := cmd.String("key-file")
	kid := cmd.String("key-id")
	if kid == "" {
		kid = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if !notice.ValidMemberID(kid) {
		return usagef("--key-id: %q is not a key id (^[a-z0-9][a-z0-9-]{0,62}$)", kid)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--key-file: %w", err)
	}
	key := bytes.TrimSpace(raw)
	if len(key) == 0 {
		return fmt.Errorf("--key-file %s: empty", path)
	}
	dir, err := loadDirectory(cmd)
	if err != nil {
		return err
	}
	cfg := match.Config{TestNetwork: dir != nil && dir.TestNetwork}
	row, err := match.NormalizeRow(match.Row{Owner: "hash", Type: t, Value: cmd.Args().Get(1)}, cfg)
	if err != nil {
		var re *match.RowError
		if errors.As(err, &re) {
			return fmt.Errorf("VALUE %q: %v", re.Value, re.Err)
		}
		return err
	}
	m := hmac.New(sha256.New, key)
	m.Write(notice.HashInput(htype, row.Value))
	_, err = fmt.Fprintf(cmd.Root().Writer, "hmac-sha256:%s:%s:%s\n", kid, htype, hex.EncodeToString(m.Sum(nil)))
	return err
}

// hashedType is the type a keyed hash names for a row type, "" for types
// that are never hashed: a prefix hashes as "address" (its normal form),
// as package match hashes customer rows.
func hashedType(t match.Type) string {
	switch t {
	case match.TypeHost, match.TypeEmail, match.TypeOrganisation, match.TypeRegistration, match.TypePhone:
		return string(t)
	case match.TypePrefix:
		return "address"
	}
	return ""
}
