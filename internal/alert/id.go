package alert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// Domain-separation tags: an alert id and a group key over the same
// strings never collide, and neither collides with any other headsup hash.
const (
	idTag    = "headsup.alert.v1 alert_id"
	groupTag = "headsup.alert.v1 group_key"
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
