package bus

import (
	"fmt"
	"regexp"
)

// StreamName is the one JetStream stream that holds the log.
const StreamName = "HEADSUP"

// SubjectPrefix starts every notice subject: headsup.notice.<issuer>.<id>.
const SubjectPrefix = "headsup.notice."

// directorySubjects is reserved now for the signed directory versions
// (headsup.directory.<serial>) that the audit work appends, so adding them
// later needs no change to a stream that is refused if its config differs.
const directorySubjects = "headsup.directory.>"

var (
	// issuerRE is the member id syntax: it can never contain a subject
	// token separator or wildcard.
	issuerRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// noticeIDRE admits only the canonical lower-case spelling of a UUIDv7
	// (version nibble 7, RFC 9562 variant), so one id has one subject.
	noticeIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// Subject returns the subject a notice of issuer with the given id is
// stored under. It refuses anything that could inject subject tokens or
// give one notice two spellings.
func Subject(issuer, id string) (string, error) {
	if !issuerRE.MatchString(issuer) {
		return "", fmt.Errorf("%w: issuer %q does not match %s", ErrInvalidSubject, issuer, issuerRE)
	}
	if !noticeIDRE.MatchString(id) {
		return "", fmt.Errorf("%w: id %q is not a canonical lower-case UUIDv7", ErrInvalidSubject, id)
	}
	return SubjectPrefix + issuer + "." + id, nil
}
