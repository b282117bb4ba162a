package cli

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

func TestAppendSocketJSONMatchesEncodingJSON(t *testing.T) {
	full := process.Process{
		PID: 4121, PPID: 4100, Name: "py<thon>&\"3\"", UID: 33, User: "www-data",
		Cmdline: []string{"/usr/bin/python3", "-c", "print('\x1b[2J\u2028\u2029\xff\ttab')", ""},
		Exe:     "/tmp/é x (deleted)", ExeDeleted: true, Cwd: "/srv/\\www",
		StartTime: time.Date(2026, 11, 29, 18, 1, 7, 420000000, time.UTC),
		Parents:   []process.Ancestor{{PID: 4100, Name: "bash"}, {PID: 1, Name: "systemd"}},
		Unit:      "user@1000.service",
		Container: &process.Container{Runtime: "kubernetes", ID: strings.Repeat("ab", 32), Pod: "6f1b8a4c-1d2e", Name: "web"},
		Cgroup:    "/kubepods/x", NetNS: 4026531840,
	}
	tests := []struct {
		name string
		s    report.Socket
	}{
		{"zero", report.Socket{}},
		{"empty slices", report.Socket{Processes: []process.Process{}, Findings: []report.Finding{}}},
		{"listener with everything", report.Socket{
			Socket: sockets.Socket{Protocol: "tcp", Family: "inet6", LocalAddr: netip.MustParseAddr("::"), LocalPort: 3302,
				RemoteAddr: netip.MustParseAddr("::"), State: "LISTEN", UID: 33, Inode: 613528, V6Only: true,
				NetNS: sockets.NetNS{Inode: 4026532571, Label: "docker:<3f2a>"}},
			Processes: []process.Process{full, {PID: 7, StartTime: time.Unix(1796000000, 5).In(time.FixedZone("x", 3600)), Cmdline: []string{}}},
			Owner:     report.OwnerKnown, Service: "mcs-fastmail",
			Findings: []report.Finding{{ID: "exe-deleted", Severity: report.SeverityHigh, Title: "t<", Why: "w", Evidence: "e\x00"}, {Severity: report.Severity(9)}},
		}},
		{"v4 connection, mapped and zoned addresses", report.Socket{
			Socket: sockets.Socket{Protocol: "udp", Family: "inet6", LocalAddr: netip.MustParseAddr("::ffff:10.0.0.1"), LocalPort: 1,
				RemoteAddr: netip.MustParseAddr("fe80::1%eth0"), RemotePort: 65535, State: "ESTAB", UID: 4294967295, Inode: 1<<64 - 1},
			Processes: []process.Process{{Name: "\u00e9\U0001F600", Container: &process.Container{Runtime: "docker"}}},
			Owner:     report.OwnerHidden,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(&tt.s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendSocketJSON(nil, &tt.s)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("(-encoding/json +appendSocketJSON):\n%s", diff)
			}
		})
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>\"\\", "\x00\x1f\x7f\b\f\n\r\t", "\u2028\u2029", "\xff\xfe", "é😀", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("appendJSONString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}

// TestSocketJSONFieldsKnown fails when a field is added to a type the
// hand-written encoder writes: add it to socketjson.go, then here.
func TestSocketJSONFieldsKnown(t *testing.T) {
	known := map[reflect.Type][]string{
		reflect.TypeFor[report.Socket]():     {"Socket", "Processes", "Owner", "Service", "Findings"},
		reflect.TypeFor[sockets.Socket]():    {"Protocol", "Family", "LocalAddr", "LocalPort", "RemoteAddr", "RemotePort", "State", "UID", "Inode", "V6Only", "NetNS"},
		reflect.TypeFor[sockets.NetNS]():     {"Inode", "Host", "Label"},
		reflect.TypeFor[process.Process]():   {"PID", "PPID", "Name", "UID", "User", "Cmdline", "Exe", "ExeDeleted", "Cwd", "StartTime", "Parents", "Unit", "Container", "Cgroup", "NetNS"},
		reflect.TypeFor[process.Ancestor]():  {"PID", "Name"},
		reflect.TypeFor[process.Container](): {"Runtime", "ID", "Pod", "Name"},
		reflect.TypeFor[report.Finding]():    {"ID", "Severity", "Title", "Why", "Evidence"},
	}
	for typ, want := range known {
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Name)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s changed; update appendSocketJSON (-known +now):\n%s", typ, diff)
		}
	}
}
