package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/customers"
)

// cmdAgent is the script command "agent start MEMBER CUSTOMERS" and
// "agent wait SEQ" (see TestScript).
func cmdAgent(ts *testscript.TestScript, neg bool, args []string) {
	switch {
	case neg || len(args) == 0:
	case args[0] == "start" && len(args) == 3:
		agentStart(ts, args[1], ts.MkAbs(args[2]))
		return
	case args[0] == "wait" && len(args) == 2:
		seq, err := strconv.ParseUint(args[1], 10, 64)
		ts.Check(err)
		agentWait(ts, seq)
		return
	}
	ts.Fatalf("usage: agent start MEMBER CUSTOMERS | agent wait SEQ")
}

func agentStart(ts *testscript.TestScript, member, custPath string) {
	work := ts.Getenv("WORK")
	logFile, err := os.Create(filepath.Join(work, "agent.log"))
	ts.Check(err)
	logger := slog.New(slog.NewTextHandler(logFile, nil))
	cfg := agent.DefaultConfig()
	cfg.Hub, cfg.Member, cfg.DirectoryPath, cfg.StateDir = ts.Getenv("HEADSUP_HUB"), member, filepath.Join(work, "directory.yaml"), filepath.Join(work, "agent")
	cfg.Customers = []agent.CustomerSource{customers.NewFile(custPath, "", logger)}
	cfg.Logger = logger
	cfg.BatchWait = 10 * time.Millisecond
	cfg.CheckListen = "127.0.0.1:0"
	ready := make(chan net.Addr, 1)
	cfg.CheckReady = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, cfg) }()
	ts.Defer(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				ts.Logf("agent: %v", err)
			}
		case <-time.After(30 * time.Second):
			ts.Logf("agent did not stop within 30s")
		}
		logFile.Close()
	})
	select {
	case a := <-ready:
		ts.Setenv("HEADSUP_AGENT", a.String())
	case err := <-done:
		ts.Fatalf("agent: %v", err)
	case <-time.After(30 * time.Second):
		ts.Fatalf("agent's local API not listening after 30s")
	}
}

// agentWait asks the agent until its answers come from a state that
// includes sequence seq.
func agentWait(ts *testscript.TestScript, seq uint64) {
	conn, err := grpc.NewClient(ts.Getenv("HEADSUP_AGENT"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	ts.Check(err)
	defer conn.Close()
	client := headsupv1.NewAgentServiceClient(conn)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := client.Check(ctx, &headsupv1.CheckRequest{Values: []*headsupv1.CheckValue{{Value: "wait.example"}}})
		cancel()
		if err == nil && resp.Cursor >= seq {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("the agent's answers never reached sequence %d (cursor %d, err %v)", seq, resp.GetCursor(), err)
		}
		time.Sleep(10 * time.Millisecond) // polling, with a deadline
	}
}
