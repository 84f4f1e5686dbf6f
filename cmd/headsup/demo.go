package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/customers"
	"github.com/headsup-dev/headsup/internal/directory"
	"github.com/headsup-dev/headsup/internal/envelope"
	"github.com/headsup-dev/headsup/internal/hub"
	"github.com/headsup-dev/headsup/internal/notice"
	"github.com/headsup-dev/headsup/internal/story"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run DESIGN.md's story end to end on this machine, in seconds",
		Description: "Starts a hub with embedded NATS in a temporary directory, makes keys and a\n" +
			"directory for five fictitious providers, publishes a suspension, a sighting\n" +
			"and a reseller notice, runs a real agent for the upstream provider with a\n" +
			"small customer file, prints its alert, retracts the suspension and prints\n" +
			"the withdrawal. Everything is removed at the end.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the alert events as headsup.alert.v1 JSON instead of text"},
			&cli.BoolFlag{Name: "keep", Usage: "keep the temporary directory and say where it is"},
		},
		Action: named("demo", runDemo),
	}
}

func runDemo(ctx context.Context, cmd *cli.Command) error {
	out := cmd.Root().Writer
	work, err := os.MkdirTemp("", "headsup-demo-")
	if err != nil {
		return err
	}
	if cmd.Bool("keep") {
		fmt.Fprintf(out, "working in %s (kept)\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	dir, members, err := story.Federation()
	if err != nil {
		return err
	}
	dirBytes, err := directory.Marshal(dir)
	if err != nil {
		return err
	}
	dirPath := filepath.Join(work, "directory.yaml")
	if err := os.WriteFile(dirPath, dirBytes, 0o644); err != nil {
		return err
	}
	edge, researcher, vox := members["edgeshield"], members["researcher"], members["voxhost"]
	fmt.Fprintln(out, "== a federation of five: edgeshield (CDN), mitigatr (DDoS-protection reseller), epiq (its operator), voxhost (IaaS), researcher")

	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	hubAddr, stopHub, err := demoHub(ctx, work, dirPath, logger)
	if err != nil {
		return err
	}
	defer stopHub()

	custPath := filepath.Join(work, "voxhost-customers.csv")
	if err := os.WriteFile(custPath, []byte(story.Customers), 0o600); err != nil {
		return err
	}
	events := make(chan *alert.Event, 64)
	agentCtx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan error, 1)
	go func() {
		cfg := agent.DefaultConfig()
		cfg.Hub, cfg.Member, cfg.DirectoryPath = hubAddr, vox.ID, dirPath
		cfg.CallKey, cfg.Origin = vox.CallKey, demoOrigin
		cfg.StateDir = filepath.Join(work, "voxhost-agent")
		cfg.Customers = []agent.CustomerSource{customers.NewFile(custPath, "https://desk.voxhost.example/customers/{customer_id}", logger)}
		cfg.Outputs = []agent.Output{{Sink: chanSink{events}}}
		cfg.Logger = logger
		agentDone <- agent.Run(agentCtx, cfg)
	}()
	defer func() { stopAgent(); <-agentDone }()
	fmt.Fprintf(out, "== hub serving on %s; voxhost's agent follows it with %s (its customers never leave it)\n", hubAddr, filepath.Base(custPath))

	conn, err := grpc.NewClient(hubAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := headsupv1.NewHubServiceClient(conn)
	publish := func(m *story.Member, n *headsupv1.Notice, what string) error {
		// Each member proves itself per call with a token from its own
		// call key, as a real member's CLI does.
		creds, err := calltoken.NewCredentials(m.CallKey, m.ID, demoOrigin, calltoken.AllowInsecureLoopback())
		if err != nil {
			return err
		}
		n.Issuer = m.ID
		if err := notice.Fill(n, time.Now()); err != nil {
			return err
		}
		if err := notice.Normalize(n, notice.Options{TestNetwork: true}); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		env, err := envelope.Seal(n, m.Key)
		if err != nil {
			return err
		}
		res, err := client.Publish(ctx, &headsupv1.PublishRequest{Envelope: env}, grpc.PerRPCCredentials(creds))
		if err != nil {
			return fmt.Errorf("publish %s: %w", what, err)
		}
		fmt.Fprintf(out, "   published %-50s sequence %d\n", what+" by "+m.ID, res.Sequence)
		return nil
	}

	fmt.Fprintln(out, "== 1-3: the story's notices")
	suspended := story.Suspended()
	if err := publish(edge, suspended, "CUSTOMER_SUSPENDED chanboard.example"); err != nil {
		return err
	}
	if err := publish(researcher, story.Sighted(suspended), "CUSTOMER_SIGHTED chanboard.example behind mitigatr"); err != nil {
		return err
	}
	if err := publish(researcher, story.Reseller(), "RESELLER_IDENTIFIED mitigatr (voxhost, epiq)"); err != nil {
		return err
	}

	fmt.Fprintln(out, "== 4: voxhost's agent, with nobody reading social media:")
	raised, err := awaitEvent(ctx, events, func(e *alert.Event) bool { return e.Type == alert.TypeMatch && e.Event != alert.EventWithdrawn })
	if err != nil {
		return fmt.Errorf("no alert: %w", err)
	}
	if err := printEvent(out, raised, cmd.Bool("json")); err != nil {
		return err
	}

	fmt.Fprintln(out, "== 5: edgeshield retracts its suspension")
	retraction := &headsupv1.Notice{Kind: headsupv1.NoticeKind_NOTICE_KIND_RETRACTION, Supersedes: suspended.GetId(),
		Tlp: headsupv1.Tlp_TLP_GREEN, Summary: "Suspension lifted after review."}
	if err := publish(edge, retraction, "RETRACTION of the suspension"); err != nil {
		return err
	}
	withdrawn, err := awaitEvent(ctx, events, func(e *alert.Event) bool { return e.AlertID == raised.AlertID && e.Event == alert.EventWithdrawn })
	if err != nil {
		return fmt.Errorf("no withdrawal: %w", err)
	}
	if err := printEvent(out, withdrawn, cmd.Bool("json")); err != nil {
		return err
	}
	fmt.Fprintln(out, "== done")
	return nil
}

func printEvent(w io.Writer, e *alert.Event, asJSON bool) error {
	if asJSON {
		b, err := e.MarshalJSON()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintln(w, alert.Render(e))
	return err
}

func awaitEvent(ctx context.Context, events <-chan *alert.Event, want func(*alert.Event) bool) (*alert.Event, error) {
	for {
		select {
		case e := <-events:
			if want(e) {
				return e, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// chanSink hands the agent's events to the demo.
type chanSink struct{ ch chan<- *alert.Event }

func (chanSink) Name() string { return "demo" }

func (s chanSink) Deliver(ctx context.Context, e *alert.Event, _ []byte) error {
	select {
	case s.ch <- e:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// demoOrigin is the demo hub's name in call tokens: access control is on,
// as on a real hub.
const demoOrigin = "demo.headsup.test"

func demoHub(ctx context.Context, work, dirPath string, logger *slog.Logger) (string, func(), error) {
	cfg := hub.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = filepath.Join(work, "hub")
	cfg.DirectoryPath = dirPath
	cfg.Origin = demoOrigin
	cfg.Logger = logger
	addr, stop, err := hub.Start(ctx, cfg)
	if err != nil {
		return "", nil, fmt.Errorf("hub: %w", err)
	}
	return addr.String(), func() { _ = stop() }, nil
}
