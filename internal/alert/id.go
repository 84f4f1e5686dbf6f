package alert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// Domain-separation tags: an alert id and a group key over the same
// strings never collide, and neither collides with any other headsup hash.
const (
	idTag          = "headsup.alert.v1 alert_id"
	groupTag       = "headsup.alert.v1 group_key"
	digestTag      = "headsup.alert.v1 digest alert_id"
	digestGroupTag = "headsup.alert.v1 digest group_key"
)

// ID returns an alert's id: hex SHA-256 over the tag and the four fields,
// each preceded by its length as a 4-byte big-endian integer, so no two
// tuples share an encoding ("ab","c" and "a","bc" differ). The root is named
// by issuer and id because a notice id is unique only per issuer.
//
// A customer id is never empty, so alerts without a customer pass "":
// own_space alerts with their root, integrity and directory_stale alerts
// with a root pair of their own (their type and the entry's sequence or
// kid), which never equals a (member id, UUID) pair of a real notice.
func ID(member, customerID, rootIssuer, rootID string) string {
	return digest(idTag, member, customerID, rootIssuer, rootID)
}

// GroupKey returns the key shared by the alerts about one subject for one
// customer of one member, encoded as [ID] is. subject must be a stable,
// normalised name of the suspended subject (for example its first host
// identifier, "host:chanboard.example"), the same for every root that
// suspends it.
func GroupKey(member, customerID, subject string) string {
	return digest(groupTag, member, customerID, subject)
}

// DigestID returns the alert_id of a digest event: one sink's digest of
// one subject (DigestSubject) for the window starting at windowStart.
// The sink is part of it because each sink shapes on its own, so two
// sinks' digests of one window may differ; a digest has one revision, so
// (alert_id, 1) stays an idempotency key.
func DigestID(member, sink, subject string, windowStart time.Time) string {
	return digest(digestTag, member, sink, subject, windowStart.UTC().Format(time.RFC3339Nano))
}

// DigestGroupKey returns the group_key of the digests of one subject
// (DigestSubject), stable across windows and sinks, so a ticketing
// receiver keeps one case per flooded customer.
func DigestGroupKey(member, subject string) string {
	return digest(digestGroupTag, member, subject)
}

// DigestSubject names what a digest is about: "customer:<id>", or
// "integrity:<issuer>\x00<kid>\x00<error>" for integrity summaries.
func DigestSubject(customerID string, in *IntegritySummary) string {
	if in != nil {
		return "integrity:" + in.Issuer + "\x00" + in.KID + "\x00" + in.Error
	}
	return "customer:" + customerID
}

func digest(tag string, fields ...string) string {
	h := sha256.New()
	var n [4]byte
	for _, f := range append([]string{tag}, fields...) {
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}
