package notice

import (
	"crypto/rand"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// Fill sets, for an issuer about to sign, what the issuer need not choose:
// a fresh id ([NewID]), a 32-byte random salt, issued_at (now, truncated to
// the second), expires_at for CUSTOMER_SIGHTED and RESELLER_IDENTIFIED
// (issued_at + [DefaultExpiry]), and the issuer in a non-empty audience.
// Fields already set are kept. Fill does not validate.
func Fill(n *headsupv1.Notice, now time.Time) error {
	if n.Id == "" {
		id, err := NewID()
		if err != nil {
			return err
		}
		n.Id = id
	}
	if len(n.Salt) == 0 {
		n.Salt = make([]byte, saltLen)
		if _, err := rand.Read(n.Salt); err != nil {
			return err
		}
	}
	if n.IssuedAt == nil {
		n.IssuedAt = &timestamppb.Timestamp{Seconds: now.Unix()}
	}
	if len(n.Audience) > 0 && n.Issuer != "" && !slices.Contains(n.Audience, n.Issuer) {
		n.Audience = append(n.Audience, n.Issuer)
	}
	switch n.Kind {
	case headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED, headsupv1.NoticeKind_NOTICE_KIND_RESELLER_IDENTIFIED:
		if n.ExpiresAt == nil {
			n.ExpiresAt = &timestamppb.Timestamp{Seconds: n.IssuedAt.Seconds + int64(DefaultExpiry/time.Second)}
		}
	}
	return nil
}

// Expired reports whether n has an expiry and now is at or past it. An
// expired notice stays valid; it only stops taking part in matching.
func Expired(n *headsupv1.Notice, now time.Time) bool {
	exp := n.GetExpiresAt()
	return exp != nil && exp.Seconds <= now.Unix()
}
