package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/urfave/cli/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/notice"
	"github.com/headsup-dev/headsup/internal/noticefile"
)

func publishCommand() *cli.Command {
	return &cli.Command{
		Name:      "publish",
		Usage:     "sign a notice document and publish it",
		ArgsUsage: "[FILE|-]",
		Description: "Reads the notice document (YAML or JSON) from FILE or standard input,\n" +
			"fills in what the issuer need not choose (id, salt, issued_at, the default\n" +
			"expiry), normalises and validates it, signs it with --key and publishes it.\n" +
			"Everything is checked before the hub is contacted. While the hub is\n" +
			"unavailable, or its answer is lost, the same signed envelope is sent again\n" +
			"for up to --retry-for: a retry of a stored envelope reports (duplicate).",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "retry-for", Usage: "keep retrying an unavailable hub this long (the default covers a NATS leader election, 4-9 s, several times over)", Value: 30 * time.Second},
			&cli.DurationFlag{Name: "timeout", Usage: "deadline of one attempt", Value: 10 * time.Second},
			&cli.BoolFlag{Name: "json", Usage: "print the result as a JSON object"},
		},
		Action: named("publish", publish),
	}
}

func publish(ctx context.Context, cmd *cli.Command) error {
	if cmd.NArg() > 1 {
		return usagef("takes one FILE or -, got %d arguments", cmd.NArg())
	}
	if cmd.String("key") == "" {
		return usagef("--key is required (your private notice key, from keygen)")
	}
	if cmd.Duration("timeout") <= 0 {
		return usagef("--timeout must be positive")
	}
	name := cmd.Args().First()
	data, err := readInput(cmd.Root().Reader, name)
	if err != nil {
		return err
	}
	if name == "" || name == "-" {
		name = "<stdin>"
	}
	dir, err := loadDirectory(cmd)
	if err != nil {
		return err
	}
	now := time.Now()
	n, err := noticefile.ParseAt(data, now)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	member := cmd.String("member")
	switch {
	case n.Issuer == "" && member == "":
		return fmt.Errorf("%s: issuer: missing; set it or --member", name)
	case n.Issuer == "":
		n.Issuer = member
	case member != "" && n.Issuer != member:
		return fmt.Errorf("%s: issuer: %q is not --member %q; a member publishes only as itself", name, n.Issuer, member)
	}
	if err := notice.Fill(n, now); err != nil {
		return err
	}
	opts := notice.Options{TestNetwork: dir != nil && dir.TestNetwork}
	if err := notice.Normalize(n, opts); err != nil {
		return fmt.Errorf("%s: %w", name, documentError(n, err))
	}
	key, err := directory.LoadPrivateKey(cmd.String("key"))
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	if err := checkKey(dir, n.Issuer, key); err != nil {
		return err
	}
	env, err := envelope.Seal(n, key)
	if err != nil {
		return err
	}

	conn, err := dial(cmd)
	if err != nil {
		return err
	}
	defer conn.Close()
	client := headsupv1.NewHubServiceClient(conn)
	resp, err := publishRetrying(ctx, client, env, cmd.Duration("retry-for"), cmd.Duration("timeout"), cmd.Root().ErrWriter)
	if err != nil {
		return rpcError(err)
	}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		return json.NewEncoder(w).Encode(struct {
			Issuer    string `json:"issuer"`
			ID        string `json:"id"`
			Sequence  uint64 `json:"sequence"`
			Duplicate bool   `json:"duplicate"`
			StoredAt  string `json:"stored_at"`
			LogID     string `json:"log_id"`
		}{n.Issuer, n.Id, resp.Sequence, resp.Duplicate, formatTime(resp.StoredAt.AsTime()), resp.LogId})
	}
	dup := ""
	if resp.Duplicate {
		dup = " (duplicate)"
	}
	_, err = fmt.Fprintf(w, "published %s/%s sequence %d%s\n", n.Issuer, n.Id, resp.Sequence, dup)
	return err
}

func readInput(stdin io.Reader, name string) ([]byte, error) {
	r := stdin
	if name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	// One byte over the limit is enough to say the document is too large.
	return io.ReadAll(io.LimitReader(r, noticefile.MaxSize+1))
}

// documentError rewrites the field path of a notice.FieldError into the
// document's terms, so it names the line a person wrote.
func documentError(n *headsupv1.Notice, err error) error {
	var fe *notice.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	c := *fe
	c.Path = noticefile.DocumentPath(n, fe.Path)
	return &c
}

// checkKey refuses, before anything is sent, a key that the directory does
// not list as a notice key of the issuer. Without --directory the hub
// makes the same check.
func checkKey(dir *directory.Directory, issuer string, key ed25519.PrivateKey) error {
	if dir == nil {
		return nil
	}
	kid := directory.Thumbprint(key.Public().(ed25519.PublicKey))
	m, k, ok := dir.Key(kid)
	switch {
	case !ok:
		return fmt.Errorf("--key: key %s is not in the directory (serial %d)", kid, dir.Serial)
	case m.ID != issuer:
		return fmt.Errorf("--key: key %s belongs to member %q, not to the issuer %q", kid, m.ID, issuer)
	case k.Use != directory.UseNotice:
		return fmt.Errorf("--key: key %s is a %s key, not a notice key", kid, k.Use)
	}
	return nil
}

// publishRetrying sends the same envelope until the hub answers, retrying
// for up to retryFor on UNAVAILABLE (retry the same envelope) and
// DEADLINE_EXCEEDED (outcome unknown: the identical retry is answered with
// duplicate=true if the first attempt was stored).
func publishRetrying(ctx context.Context, client headsupv1.HubServiceClient, env *headsupv1.Envelope,
	retryFor, attemptTimeout time.Duration, progress io.Writer) (*headsupv1.PublishResponse, error) {
	req := &headsupv1.PublishRequest{Envelope: env}
	giveUp := time.Now().Add(retryFor)
	wait := 250 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		resp, err := client.Publish(actx, req)
		cancel()
		if err == nil {
			return resp, nil
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded:
		default:
			return nil, err
		}
		// Jitter, so that many clients cut off together do not return together.
		d := wait/2 + rand.N(wait/2+1)
		if ctx.Err() != nil || time.Now().Add(d).After(giveUp) {
			return nil, err
		}
		fmt.Fprintf(progress, "headsup: publish: %v; retrying in %s\n", rpcError(err), d.Round(time.Millisecond))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
