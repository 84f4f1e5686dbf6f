package auditlog

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// The stream subjects the log holds (see internal/bus; repeated here so
// that auditors and agents recompute leaves without linking NATS).
const (
	noticeSubjectPrefix    = "headsup.notice."
	directorySubjectPrefix = "headsup.directory."
)

// LeafOf returns the record a stream entry contributes to the tree: for a
// notice (headsup.notice.…, body a serialised headsupv1.Envelope) the
// JWS's exact bytes, for a directory version (headsup.directory.<serial>)
// the body, the signed directory note as appended. The record is what
// Tree.Append takes; its leaf hash is tlog.RecordHash(record).
//
// The JWS, not the envelope, is the record because a redacted entry
// carries only the JWS, and its notice_sha256 claim commits to the notice:
// everyone can recompute the leaf of every entry they are sent.
func LeafOf(subject string, body []byte) ([]byte, error) {
	switch {
	case strings.HasPrefix(subject, noticeSubjectPrefix):
		env := &headsupv1.Envelope{}
		if err := proto.Unmarshal(body, env); err != nil {
			return nil, fmt.Errorf("entry %s: envelope: %v: %w", subject, err, ErrMalformedEntry)
		}
		if env.GetJws() == "" {
			return nil, fmt.Errorf("entry %s: envelope.jws: empty: %w", subject, ErrMalformedEntry)
		}
		return []byte(env.GetJws()), nil
	case strings.HasPrefix(subject, directorySubjectPrefix):
		serial := strings.TrimPrefix(subject, directorySubjectPrefix)
		if !canonicalDecimal(serial) {
			return nil, fmt.Errorf("entry %s: serial %q is not a decimal number without leading zeros: %w", subject, serial, ErrUnknownSubject)
		}
		if len(body) == 0 {
			return nil, fmt.Errorf("entry %s: empty directory: %w", subject, ErrMalformedEntry)
		}
		return body, nil
	}
	return nil, fmt.Errorf("entry %q: %w", subject, ErrUnknownSubject)
}

// canonicalDecimal reports whether s is the one spelling of a uint64:
// digits only, no sign, no leading zero unless it is "0".
func canonicalDecimal(s string) bool {
	v, err := strconv.ParseUint(s, 10, 64)
	return err == nil && strconv.FormatUint(v, 10) == s
}
