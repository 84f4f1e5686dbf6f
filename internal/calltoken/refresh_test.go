package calltoken_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/calltoken"
	"github.com/headsup-dev/headsup/internal/directory"
)

// TestRefreshOnUnknownKey: a token whose key the current directory lacks
// is looked up once more in the directory Refresh returns (a member added
// an instant ago), and still refused when that one lacks it too; a known
// key never costs a refresh.
func TestRefreshOnUnknownKey(t *testing.T) {
	betaToken := func(jti string) string {
		tk := goodToken(jti).by(keyBeta)
		tk.claims["iss"] = "beta"
		return tk.sign(t)
	}
	newCfg := func(current, refreshed *directory.Directory, refreshes *int) calltoken.VerifierConfig {
		cfg := calltoken.DefaultVerifierConfig(hubA, func() *directory.Directory { return current }, calltoken.NewMemoryReplayStore())
		cfg.Leeway, cfg.Now = leeway, func() time.Time { return t0 }
		cfg.Refresh = func() *directory.Directory { *refreshes++; return refreshed }
		return cfg
	}
	without, with := testDirectory(t, false), testDirectory(t, true)

	var n int
	v, err := calltoken.NewVerifier(newCfg(without, with, &n))
	if err != nil {
		t.Fatal(err)
	}
	if _, m, err := v.Verify(context.Background(), betaToken("b1"), subscribe); err != nil || m.ID != "beta" || n != 1 {
		t.Fatalf("beta after a refresh: member %v, err %v, %d refreshes; want beta, nil, 1", m, err, n)
	}
	if _, _, err := v.Verify(context.Background(), goodToken("a1").sign(t), subscribe); err != nil || n != 1 {
		t.Fatalf("alpha: err %v, %d refreshes; want nil and no new refresh", err, n)
	}

	n = 0
	v, err = calltoken.NewVerifier(newCfg(without, without, &n))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Verify(context.Background(), betaToken("b2"), subscribe); !errors.Is(err, calltoken.ErrUnknownKey) || n != 1 {
		t.Fatalf("beta unknown after the refresh too: err %v, %d refreshes; want ErrUnknownKey after 1", err, n)
	}
}
