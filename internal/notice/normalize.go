package notice

import (
	"errors"
	"fmt"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// Normalize rewrites every identifier of n in place to its normal form,
// then validates n. It is for issuers, before signing: once signed, the
// bytes are final and [Validate] refuses anything not already normal.
// On error n may be partly rewritten.
func Normalize(n *headsupv1.Notice, opts Options) error {
	if n == nil {
		return fieldErr("", "", "notice is missing")
	}
	if err := normalizeEntity("subject", n.Subject, opts); err != nil {
		return err
	}
	if err := normalizeEntity("sighting.host", n.GetSighting().GetHost(), opts); err != nil {
		return err
	}
	for i, r := range n.Relations {
		if err := normalizeEntity(fmt.Sprintf("relations[%d].entity", i), r.GetEntity(), opts); err != nil {
			return err
		}
	}
	return Validate(n, opts)
}

func normalizeEntity(path string, e *headsupv1.Entity, opts Options) error {
	if e == nil {
		return nil
	}
	for i, id := range e.Identifiers {
		if err := normalizeIdentifier(fmt.Sprintf("%s.identifiers[%d]", path, i), id, opts); err != nil {
			return err
		}
	}
	return nil
}

func normalizeIdentifier(path string, id *headsupv1.Identifier, opts Options) error {
	var err error
	switch x := id.GetValue().(type) {
	case *headsupv1.Identifier_Host:
		if x.Host, err = Host(x.Host); err != nil {
			return withPath(err, path+".host")
		}
	case *headsupv1.Identifier_Address:
		if x.Address == nil {
			return nil // Validate names it
		}
		p, err := Prefix(x.Address.Prefix, opts)
		if err != nil {
			return withPath(err, path+".address.prefix")
		}
		x.Address.Prefix = PrefixString(p)
	case *headsupv1.Identifier_Email:
		if x.Email, err = Email(x.Email); err != nil {
			return withPath(err, path+".email")
		}
	case *headsupv1.Identifier_Organisation:
		if x.Organisation, _, err = Organisation(x.Organisation); err != nil {
			return withPath(err, path+".organisation")
		}
	case *headsupv1.Identifier_Registration:
		r := x.Registration
		if r == nil || r.Scheme == headsupv1.RegistrationScheme_REGISTRATION_SCHEME_UNSPECIFIED {
			return nil // Validate names it
		}
		v, c, err := Registration(r.Scheme, r.Value, r.Country)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && fe.Path == "" {
				return withPath(err, path+".registration.value")
			}
			return withPath(err, path+".registration")
		}
		r.Value, r.Country = v, c
	case *headsupv1.Identifier_Hashed:
		if x.Hashed, err = Hashed(x.Hashed); err != nil {
			return withPath(err, path+".hashed")
		}
	}
	return nil
}
