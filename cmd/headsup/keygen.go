package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/urfave/cli/v3"
	"go.yaml.in/yaml/v3"

	"github.com/headsup-dev/headsup/internal/atomicfile"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/notice"
)

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:      "keygen",
		Usage:     "generate an Ed25519 key pair for a member",
		UsageText: "headsup keygen --member ID --out DIR [--use notice|call|witness]... [--role ROLE]... [--add-to DIRECTORY.yaml]",
		Description: "Makes a notice key and a call key (or the --use given) and writes each\n" +
			"private key to DIR/<member>.key (DIR/<member>.<use>.key for other uses)\n" +
			"as PKCS #8 PEM, readable by its owner only, and never over an\n" +
			"existing file. Prints the member entry to paste into the directory: fill\n" +
			"in name and abuse_contact, and have the federation publish it. With\n" +
			"--add-to it also adds the entry to a local directory file (created when\n" +
			"missing, serial raised by one), as for a test federation or the quickstart.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "directory to write the private key into", Required: true, TakesFile: true},
			&cli.StringSliceFlag{Name: "use", Usage: "what each new key signs: notice (envelopes), call (per-call tokens to the hub), witness (cosignatures); repeat the flag", Value: []string{string(directory.UseNotice), string(directory.UseCall)}},
			&cli.StringSliceFlag{Name: "role", Usage: "the member's roles in the entry: publish, subscribe, audit (repeat the flag)", Value: []string{string(directory.RolePublish), string(directory.RoleSubscribe)}},
			&cli.StringFlag{Name: "add-to", Usage: "also add the member to this directory file (created when missing)", TakesFile: true},
		},
		Action: named("keygen", keygen),
	}
}

func keygen(_ context.Context, cmd *cli.Command) error {
	if cmd.NArg() > 0 {
		return usagef("unexpected argument %q", cmd.Args().First())
	}
	member := cmd.String("member")
	if member == "" {
		return usagef("--member is required")
	}
	if !notice.ValidMemberID(member) {
		// Also what keeps the file name inside --out.
		return usagef("--member: %q is not a member id (^[a-z0-9][a-z0-9-]{0,62}$)", member)
	}
	type newKey struct {
		path string
		pem  []byte
	}
	var (
		keys  []*directory.Key
		files []newKey
	)
	out := cmd.String("out")
	for _, u := range cmd.StringSlice("use") {
		use := directory.Use(u)
		switch use {
		case directory.UseNotice, directory.UseCall, directory.UseWitness:
		default:
			return usagef("--use: %q is not one of %s, %s, %s", use, directory.UseNotice, directory.UseCall, directory.UseWitness)
		}
		key, priv, err := directory.NewKey(use)
		if err != nil {
			return err
		}
		// A key cannot have signed anything before it existed.
		key.NotBefore = time.Now().UTC().Truncate(time.Second)
		pemBytes, err := directory.MarshalPrivateKey(priv)
		if err != nil {
			return err
		}
		name := member + ".key"
		if use != directory.UseNotice {
			name = member + "." + string(use) + ".key"
		}
		path := filepath.Join(out, name)
		if slices.ContainsFunc(files, func(f newKey) bool { return f.path == path }) {
			return usagef("--use: %q given twice", use)
		}
		// Checked for all keys before any is written, so a refusal leaves
		// nothing behind.
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite a key", path)
		}
		keys = append(keys, key)
		files = append(files, newKey{path, pemBytes})
	}
	if len(keys) == 0 {
		return usagef("--use: at least one of %s, %s, %s", directory.UseNotice, directory.UseCall, directory.UseWitness)
	}
	var roles []directory.Role
	for _, r := range cmd.StringSlice("role") {
		switch role := directory.Role(r); role {
		case directory.RolePublish, directory.RoleSubscribe, directory.RoleAudit:
			roles = append(roles, role)
		default:
			return usagef("--role: %q is not one of %s, %s, %s", r, directory.RolePublish, directory.RoleSubscribe, directory.RoleAudit)
		}
	}
	m := newMember(member, keys, roles)
	entry, err := memberEntry(m)
	if err != nil {
		return err
	}
	addTo := cmd.String("add-to")
	var updated *directory.Directory
	if addTo != "" {
		// Checked before the key is written, so a refusal leaves nothing behind.
		if updated, err = withMember(addTo, m); err != nil {
			return fmt.Errorf("--add-to: %w", err)
		}
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	for i, f := range files {
		if err := writeNew(f.path, f.pem); err != nil {
			for _, done := range files[:i] {
				os.Remove(done.path)
			}
			return err
		}
	}
	if updated != nil {
		if err := writeDirectory(addTo, updated); err != nil {
			return fmt.Errorf("--add-to: %w", err)
		}
	}
	_, err = cmd.Root().Writer.Write(entry)
	return err
}

func newMember(id string, keys []*directory.Key, roles []directory.Role) *directory.Member {
	return &directory.Member{
		ID:           id,
		Name:         id,
		AbuseContact: "abuse@" + id + ".example",
		Roles:        roles,
		Keys:         keys,
	}
}

// withMember returns the directory at path (an empty one when the file does
// not exist) with m added, or m's key added to the member already there, and
// the serial raised, so that every hub and
// agent watching the file takes it as a new version.
func withMember(path string, m *directory.Member) (*directory.Directory, error) {
	d, err := directory.Load(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d = &directory.Directory{}
	case err != nil:
		return nil, err
	}
	if existing, ok := d.Member(m.ID); ok {
		// A member already there gets the new key beside its others (a
		// call key next to its notice key, or a rotation: both stay valid
		// until the old one is given not_after or revoked_at).
		existing.Keys = append(existing.Keys, m.Keys...)
	} else {
		d.Members = append(d.Members, m)
	}
	d.Serial++
	// Parse what will be written: the result must load, or nothing changes.
	b, err := directory.Marshal(d)
	if err != nil {
		return nil, err
	}
	return directory.Parse(b)
}

// writeDirectory replaces path atomically (replaceFile), so a watcher
// never reads half a file.
func writeDirectory(path string, d *directory.Directory) error {
	b, err := directory.Marshal(d)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, atomicfile.KeepMode(path, 0o644))
}

// writeNew creates path with mode 0600 and writes data, refusing to replace
// an existing file: overwriting a private key loses it for good.
func writeNew(path string, data []byte) error { return writeNewMode(path, data, 0o600) }

// writeNewMode creates path with mode and writes data, synced, refusing to
// replace an existing file; a failed write leaves no file behind.
func writeNewMode(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; refusing to overwrite a key", path)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// memberEntry renders the member as one item of the directory's members
// list. It goes through directory.Marshal, so the entry is spelt exactly as
// the directory reads it.
func memberEntry(m *directory.Member) ([]byte, error) {
	b, err := directory.Marshal(&directory.Directory{Members: []*directory.Member{m}})
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	var members *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "members" {
			members = root.Content[i+1]
		}
	}
	if members == nil || len(members.Content) != 1 {
		return nil, errors.New("directory.Marshal wrote no member entry")
	}
	entry := members.Content[0]
	for i := 0; i+1 < len(entry.Content); i += 2 {
		switch entry.Content[i].Value {
		case "name":
			entry.Content[i+1].LineComment = "TODO: your organisation's name"
		case "abuse_contact":
			entry.Content[i+1].LineComment = "TODO: your abuse desk (e-mail or https URL)"
		}
	}
	list := &yaml.Node{
		Kind:        yaml.SequenceNode,
		Content:     []*yaml.Node{entry},
		HeadComment: "Member entry for the directory's members list; add asns, prefixes and domains.",
	}
	return yaml.Marshal(list)
}
