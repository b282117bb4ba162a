package probe

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseLDAPReply(t *testing.T) {
	openldap := readTestdata(t, "slapd-2.5.13-rootdse.bin")
	// An unwilling server: SearchResultDone with insufficientAccessRights (50).
	denied := berTLV(berSequence, berInt(berInteger, 1), berTLV(ldapSearchDone,
		berInt(berEnumerated, 50), berTLV(berOctetString), berTLV(berOctetString, []byte("anonymous access denied"))))
	tests := []struct {
		name    string
		in      []byte
		want    Match
		wantErr bool
	}{
		{name: "openldap root dse", in: openldap,
			want: Match{Service: "ldap", Product: "OpenLDAP", Info: "naming contexts: dc=example,dc=org", Method: "native:ldap", Certain: true}},
		{name: "389 directory server names itself", in: readTestdata(t, "389ds-rootdse.bin"),
			want: Match{Service: "ldap", Product: "389 Project", Version: "389-Directory/2.3.4 B2023.192.0000",
				Info: "naming contexts: dc=example,dc=com", Method: "native:ldap", Certain: true}},
		{name: "anonymous search refused", in: denied,
			want: Match{Service: "ldap", Info: "result 50 anonymous access denied", Method: "native:ldap", Certain: true}},
		{name: "entry without done", in: openldap[:len(openldap)-14], wantErr: true},
		{name: "wrong message id", in: berTLV(berSequence, berInt(berInteger, 7), berTLV(ldapSearchDone,
			berInt(berEnumerated, 0), berTLV(berOctetString), berTLV(berOctetString))), wantErr: true},
		{name: "not ber", in: []byte("SSH-2.0-OpenSSH_9.2p1\r\n"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseLDAPReply(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, ldapMatch(r)); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLdapProbe(t *testing.T) {
	reply := readTestdata(t, "slapd-2.5.13-rootdse.bin")
	entry, done := reply[:len(reply)-14], reply[len(reply)-14:]
	check := func(req []byte) error {
		// An anonymous base search of "" for (objectClass=*), message 1.
		if !bytes.HasPrefix(req, []byte{0x30}) || !bytes.Contains(req, []byte{0x02, 0x01, 0x01, ldapSearchRequest}) ||
			!bytes.Contains(req, []byte("\x04\x00\x0a\x01\x00")) || !bytes.Contains(req, []byte("\x87\x0bobjectClass")) {
			return errors.New("not an anonymous root DSE search")
		}
		return nil
	}
	tests := []struct {
		name  string
		steps []binStep
	}{
		{name: "entry and done in one segment", steps: []binStep{{frame: berHeaderLen, check: check, reply: fixed(reply)}}},
		{name: "entry and done apart", steps: []binStep{{frame: berHeaderLen, check: check, reply: fixed(entry)}, {reply: fixed(done)}}},
	}
	want := Match{Service: "ldap", Product: "OpenLDAP", Info: "naming contexts: dc=example,dc=org", Method: "native:ldap", Certain: true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := binServeTCP(t, tt.steps...)
			m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, ldapProbe)
			if err != nil || !ok {
				t.Fatalf("probe: ok %v err %v", ok, err)
			}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseLDAPReply(f *testing.F) {
	addTestdataSeeds(f, "slapd-2.5.13-rootdse.bin", "389ds-rootdse.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := frameLDAPReply(b); err == nil && n > len(b) {
			t.Fatalf("frame %d beyond %d bytes", n, len(b))
		}
		r, err := parseLDAPReply(b)
		if err != nil {
			return
		}
		if !r.Done {
			t.Fatal("accepted a reply without SearchResultDone")
		}
		_ = ldapMatch(r)
	})
}
