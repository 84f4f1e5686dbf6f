package notice_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/notice"
)

func TestCheckOwnSpace(t *testing.T) {
	own := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	addr := func(prefix string, role headsupv1.AddressRole) *headsupv1.Identifier {
		return &headsupv1.Identifier{Value: &headsupv1.Identifier_Address{Address: &headsupv1.Address{Prefix: prefix, Role: role}}}
	}
	origin, assigned := headsupv1.AddressRole_ADDRESS_ROLE_ORIGIN, headsupv1.AddressRole_ADDRESS_ROLE_ASSIGNED
	tests := []struct {
		name    string
		kind    headsupv1.NoticeKind
		ids     []*headsupv1.Identifier
		wantErr string
	}{
		{"origin outside own space", headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED, []*headsupv1.Identifier{addr("198.51.100.7/32", origin)}, ""},
		{"origin inside own space", headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED, []*headsupv1.Identifier{addr("198.51.100.7/32", origin), addr("192.0.2.10/32", origin)}, "subject.identifiers[1].address"},
		{"prefix covering own space", headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED, []*headsupv1.Identifier{addr("192.0.0.0/16", origin)}, "own prefix 192.0.2.0/24"},
		{"IPv6 inside own space", headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED, []*headsupv1.Identifier{addr("2001:db8:1::/48", origin)}, "own prefix 2001:db8::/32"},
		{"assigned inside own space", headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SUSPENDED, []*headsupv1.Identifier{addr("192.0.2.10/32", assigned)}, ""},
		{"sighting is not checked", headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED, []*headsupv1.Identifier{addr("192.0.2.10/32", 0)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &headsupv1.Notice{Kind: tt.kind, Subject: &headsupv1.Entity{Identifiers: tt.ids}}
			err := notice.CheckOwnSpace(n, own)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckOwnSpace: %v", err)
				}
				return
			}
			if !errors.Is(err, notice.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("CheckOwnSpace: %v, want ErrInvalid naming %q", err, tt.wantErr)
			}
		})
	}
}
