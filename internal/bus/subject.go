package bus

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// StreamName is the one JetStream stream that holds the log.
const StreamName = "HEADSUP"

// SubjectPrefix starts every notice subject: headsup.notice.<issuer>.<id>.
const SubjectPrefix = "headsup.notice."

// DirectorySubjectPrefix starts the subject of every signed directory
// version the hub appends: headsup.directory.<serial>.
const DirectorySubjectPrefix = "headsup.directory."

// directorySubjects holds the signed directory versions. It was reserved in
// the stream before they were appended, so adding them needed no change to
// a stream that is refused if its config differs.
const directorySubjects = DirectorySubjectPrefix + ">"

// DirectorySubject is the subject of the directory version with serial:
// decimal without leading zeros, so one serial has one subject.
func DirectorySubject(serial uint64) string {
	return DirectorySubjectPrefix + strconv.FormatUint(serial, 10)
}

// DirectorySerial returns the serial of a directory version's subject, and
// false for any other subject (a notice's, or a serial spelt other than
// DirectorySubject spells it).
func DirectorySerial(subject string) (uint64, bool) {
	rest, ok := strings.CutPrefix(subject, DirectorySubjectPrefix)
	if !ok {
		return 0, false
	}
	serial, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || strconv.FormatUint(serial, 10) != rest {
		return 0, false
	}
	return serial, true
}

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
