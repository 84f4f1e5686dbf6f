package envelope

import (
	"crypto/ed25519"
	"time"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/directory"
)

// anySignature takes every signature as valid: the overhead benchmarks
// time everything Verify does beside ed25519.Verify.
func anySignature(ed25519.PublicKey, string, []byte) bool { return true }

// VerifyAnySignature is Verify with the signature check stubbed out.
func VerifyAnySignature(env *headsupv1.Envelope, dir *directory.Directory, logTime time.Time) (*Verified, error) {
	return verify(env, dir, logTime, anySignature)
}

// VerifyJWSAnySignature is the same for the redacted path's checks.
func VerifyJWSAnySignature(token string, dir *directory.Directory) error {
	_, _, _, err := verifyJWS(token, dir, anySignature)
	return err
}
