package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/mod/sumdb/note"

	"github.com/headsup-dev/headsup/internal/atomicfile"
	"github.com/headsup-dev/headsup/internal/directory"
)

func directoryCommand() *cli.Command {
	c := &cli.Command{
		Name:  "directory",
		Usage: "make the governance key, sign and verify directory versions",
		Description: "The federation's governance key signs every version of the member\n" +
			"directory; every hub and agent pins its verifier key and refuses a\n" +
			"directory that is unsigned, signed by another key, or older than the\n" +
			"one it holds. A signed directory is the YAML text, a blank line and the\n" +
			"signature line (a signed note, golang.org/x/mod/sumdb/note).",
		Commands: []*cli.Command{
			{
				Name:      "keygen",
				Usage:     "generate the federation's governance key pair",
				UsageText: "headsup directory keygen --name NAME --out DIR",
				Description: "Writes the signing key to DIR/NAME.skey (readable by its owner only)\n" +
					"and the verifier key to DIR/NAME.vkey, never over existing files, and\n" +
					"prints the verifier key: pin it in every hub's and agent's config. Keep\n" +
					"the signing key offline; whoever holds it decides who is a member.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "the key's name, lower case, such as the federation's domain", Required: true},
					&cli.StringFlag{Name: "out", Usage: "directory to write the key files into", Required: true, TakesFile: true},
				},
				Action: named("directory keygen", directoryKeygen),
			},
			{
				Name:      "sign",
				Usage:     "sign a directory version with the governance key",
				UsageText: "headsup directory sign --key NAME.skey [--bump] [-o OUT] IN.yaml",
				Description: "Checks IN.yaml as hubs will (a directory that does not load is never\n" +
					"signed) and writes the signed directory to OUT, by default IN with its\n" +
					".yaml or .yml extension replaced by .signed; -o - writes it to stdout.\n" +
					"With --bump it first raises the serial by one, in IN.yaml too, leaving\n" +
					"every other byte of it as it was. It refuses to replace an OUT that\n" +
					"holds a higher serial, or the same serial with other content: hubs\n" +
					"would refuse that version.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "key", Usage: "the governance signing key file (NAME.skey)", Required: true, TakesFile: true},
					&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "where to write the signed directory (- for stdout)", TakesFile: true},
					&cli.BoolFlag{Name: "bump", Usage: "raise the serial by one (in IN too) before signing"},
				},
				Action: named("directory sign", directorySign),
			},
			{
				Name:      "verify",
				Usage:     "verify a signed directory against the pinned governance key",
				UsageText: "headsup directory verify --verifier VKEY FILE",
				Description: "Verifies FILE (- for stdin) against the verifier key, given as the key\n" +
					"itself (name+hash+base64) or as a file holding it, checks the directory\n" +
					"as hubs do, and prints its serial, members and keys. Exit status 1 and\n" +
					"one line naming the problem otherwise.",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "verifier", Usage: "the governance verifier key, or a file (NAME.vkey) holding it", Required: true},
				},
				Action: named("directory verify", directoryVerify),
			},
		},
		Action: func(_ context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 0 {
				return usagef("directory: unknown command %q (keygen, sign or verify)", cmd.Args().First())
			}
			return usagef("directory: missing command (keygen, sign or verify)")
		},
	}
	for _, sub := range c.Commands {
		// Flag errors name the whole command, as action errors do.
		sub.OnUsageError = func(_ context.Context, cmd *cli.Command, err error, _ bool) error {
			return &usageError{fmt.Errorf("directory %s: %w", cmd.Name, err)}
		}
	}
	return c
}

func directoryKeygen(_ context.Context, cmd *cli.Command) error {
	if cmd.NArg() > 0 {
		return usagef("unexpected argument %q", cmd.Args().First())
	}
	name := cmd.String("name")
	skey, vkey, err := directory.GenerateGovernanceKey(name)
	if err != nil {
		// The name pattern is also what keeps the files inside --out.
		return usagef("--name: %v", err)
	}
	out := cmd.String("out")
	spath := filepath.Join(out, name+".skey")
	vpath := filepath.Join(out, name+".vkey")
	// Checked before anything is written, so a refusal leaves no half pair.
	for _, p := range []string{spath, vpath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite a key", p)
		}
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := writeNew(spath, []byte(skey+"\n")); err != nil {
		return err
	}
	if err := writeNewPublic(vpath, []byte(vkey+"\n")); err != nil {
		os.Remove(spath)
		return err
	}
	_, err = fmt.Fprintln(cmd.Root().Writer, vkey)
	return err
}

// writeNewPublic creates path, readable by all, refusing to replace a file.
func writeNewPublic(path string, data []byte) error { return writeNewMode(path, data, 0o644) }

func directorySign(_ context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return usagef("takes one IN.yaml, got %d arguments", cmd.NArg())
	}
	in := cmd.Args().First()
	out := cmd.String("out")
	if out == "" {
		out = signedPath(in)
	}
	if out != "-" && filepath.Clean(out) == filepath.Clean(in) {
		return usagef("-o: %s is the input; the signed directory goes to another file", out)
	}
	skeyBytes, err := os.ReadFile(cmd.String("key"))
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	skey := strings.TrimSpace(string(skeyBytes))
	signer, err := note.NewSigner(skey)
	if err != nil {
		return fmt.Errorf("--key %s: not a governance signing key (PRIVATE+KEY+name+hash+base64, as written by headsup directory keygen)", cmd.String("key"))
	}
	orig, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	text := orig
	if cmd.Bool("bump") {
		if text, err = directory.BumpSerial(orig); err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
	}
	signed, err := directory.Sign(text, skey)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	d, err := directory.Parse(text)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if out != "-" {
		if err := checkNotOlder(out, d.Serial, noteText(signed)); err != nil {
			return err
		}
	}
	if cmd.Bool("bump") {
		if err := atomicfile.Write(in, text, atomicfile.KeepMode(in, 0o644)); err != nil {
			return err
		}
	}
	if out == "-" {
		_, err := cmd.Root().Writer.Write(signed)
		return err
	}
	if err := atomicfile.Write(out, signed, atomicfile.KeepMode(out, 0o644)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.Root().Writer, "%s: serial %d, %s, signed by %s+%08x\n",
		out, d.Serial, plural(len(d.Members), "member"), signer.Name(), signer.KeyHash())
	return err
}

// signedPath is where sign writes by default: directory.yaml becomes
// directory.signed.
func signedPath(in string) string {
	switch ext := filepath.Ext(in); ext {
	case ".yaml", ".yml":
		return strings.TrimSuffix(in, ext) + ".signed"
	}
	return in + ".signed"
}

// checkNotOlder refuses to replace a signed directory with a version hubs
// would refuse after it: a lower serial, or the same serial with other
// text. What is at path is read without verification: this only guards
// against mistakes, the hubs check signatures.
func checkNotOlder(path string, serial uint64, text []byte) error {
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var unverified *note.UnverifiedNoteError
	if _, err := note.Open(old, nil); !errors.As(err, &unverified) {
		return nil // not a signed note: nothing to protect
	}
	prev, err := directory.Parse([]byte(unverified.Note.Text))
	if err != nil {
		return nil
	}
	switch {
	case prev.Serial > serial:
		return fmt.Errorf("%s holds serial %d, newer than %d; hubs would refuse this version (raise serial, or use --bump)", path, prev.Serial, serial)
	case prev.Serial == serial && unverified.Note.Text != string(text):
		return fmt.Errorf("%s holds serial %d with other content; hubs would refuse a second version under one serial (raise serial, or use --bump)", path, serial)
	}
	return nil
}

// noteText returns the signed text of a note Sign made: all before the
// blank line that precedes the signature lines.
func noteText(signed []byte) []byte {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	return signed[:i+1]
}

func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func directoryVerify(_ context.Context, cmd *cli.Command) error {
	if cmd.NArg() != 1 {
		return usagef("takes one FILE or -, got %d arguments", cmd.NArg())
	}
	vkey, err := verifierKey(cmd.String("verifier"))
	if err != nil {
		return err
	}
	file := cmd.Args().First()
	var data []byte
	if file == "-" {
		data, err = io.ReadAll(io.LimitReader(cmd.Root().Reader, directory.MaxFileBytes+1))
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return err
	}
	d, err := directory.Open(data, vkey)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return err // Open accepted it
	}
	keys := 0
	for _, m := range d.Members {
		keys += len(m.Keys)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "verified: serial %d, %s, %s, signed by %s+%08x\n",
		d.Serial, plural(len(d.Members), "member"), plural(keys, "key"), v.Name(), v.KeyHash())
	if d.TestNetwork {
		b.WriteString("test_network: documentation addresses and ASNs allowed\n")
	}
	for _, m := range d.Members {
		roles := make([]string, len(m.Roles))
		for i, r := range m.Roles {
			roles[i] = string(r)
		}
		fmt.Fprintf(&b, "member %s (%s): roles %s\n", m.ID, m.Name, orNone(strings.Join(roles, ", ")))
		for _, k := range m.Keys {
			fmt.Fprintf(&b, "  key %s %s", k.ID, k.Use)
			for _, t := range []struct {
				name string
				at   time.Time
			}{{"not_before", k.NotBefore}, {"not_after", k.NotAfter}, {"revoked_at", k.RevokedAt}} {
				if !t.at.IsZero() {
					fmt.Fprintf(&b, " %s %s", t.name, formatTime(t.at))
				}
			}
			b.WriteString("\n")
		}
	}
	_, err = io.WriteString(cmd.Root().Writer, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// verifierKey takes --verifier as the key itself or as a file holding it.
func verifierKey(arg string) (string, error) {
	if _, err := note.NewVerifier(arg); err == nil {
		return arg, nil
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && strings.Contains(arg, "+") {
			_, verr := note.NewVerifier(arg)
			return "", usagef("--verifier: %q is not a verifier key (name+hash+base64): %v", arg, verr)
		}
		return "", usagef("--verifier: %q is neither a verifier key (name+hash+base64) nor a readable file: %v", arg, err)
	}
	vkey := strings.TrimSpace(string(b))
	if strings.HasPrefix(vkey, "PRIVATE+KEY+") {
		// Said plainly: the secret key has no business on a verifier.
		return "", fmt.Errorf("--verifier %s: holds the governance signing key, not the verifier key (NAME.vkey); keep the signing key offline", arg)
	}
	if _, err := note.NewVerifier(vkey); err != nil {
		return "", fmt.Errorf("--verifier %s: not a verifier key (name+hash+base64, as in NAME.vkey): %v", arg, err)
	}
	return vkey, nil
}
