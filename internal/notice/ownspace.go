package notice

import (
	"fmt"
	"net/netip"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
)

// CheckOwnSpace refuses a CUSTOMER_SUSPENDED notice whose subject names an
// address inside the issuer's own prefixes (own, from the directory) with
// any role but ASSIGNED. A CDN's or a reseller's own edge addresses serve
// many customers: naming one as where the suspended customer originated
// would point every downstream agent at the issuer's innocent neighbours.
// Only an address the issuer had assigned to the customer may be named, and
// then with the time it was assigned until.
func CheckOwnSpace(n *headsupv1.Notice, own []netip.Prefix) error {
	if n.GetKind() != headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED || len(own) == 0 {
		return nil
	}
	for i, id := range n.GetSubject().GetIdentifiers() {
		a := id.GetAddress()
		if a == nil || a.GetRole() == headsupv1.AddressRole_ADDRESS_ROLE_ASSIGNED {
			continue
		}
		p, err := netip.ParsePrefix(a.GetPrefix())
		if err != nil {
			continue // Validate has refused it already
		}
		for _, o := range own {
			if o.Overlaps(p) {
				return fieldErr(fmt.Sprintf("subject.identifiers[%d].address", i), a.GetPrefix(),
					fmt.Sprintf("lies in the issuer's own prefix %s: name it only with role assigned (and assigned_until) if you had assigned it to the customer", o))
			}
		}
	}
	return nil
}
