package watch

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

func sock(proto, state string, port uint16, inode uint64, procs ...process.Process) report.Socket {
	s := report.Socket{Processes: procs, Owner: report.OwnerKnown}
	s.Socket = sockets.Socket{Protocol: proto, State: state, LocalAddr: netip.MustParseAddr("0.0.0.0"), LocalPort: port, Inode: inode,
		NetNS: sockets.NetNS{Inode: 7, Host: true, Label: "host"}}
	return s
}

func proc(pid int, exe string) process.Process {
	return process.Process{PID: pid, Exe: exe, Name: exe[len(exe)-1:]}
}

func withFindings(s report.Socket, fs ...report.Finding) report.Socket {
	s.Findings = fs
	return s
}

func TestDiff(t *testing.T) {
	low := report.Finding{ID: "unregistered", Severity: report.SeverityLow}
	high := report.Finding{ID: "exe-deleted", Severity: report.SeverityHigh}
	tests := []struct {
		name      string
		prev, cur []report.Socket
		want      []string
	}{
		{"nothing", nil, nil, nil},
		{"connections and connected udp are not listeners",
			nil, []report.Socket{sock("tcp", "ESTAB", 80, 1), sock("tcp", "TIME-WAIT", 81, 0), func() report.Socket {
				s := sock("udp", "ESTAB", 53, 2)
				s.RemoteAddr, s.RemotePort = netip.MustParseAddr("127.0.0.1"), 9
				return s
			}()}, nil},
		{"opened and closed",
			[]report.Socket{sock("tcp", "LISTEN", 80, 1, proc(10, "/a"))},
			[]report.Socket{sock("udp", "UNCONN", 53, 2, proc(11, "/b"))},
			[]string{"closed tcp/80 /a [10]", "opened udp/53 /b [11]"}},
		{"a restart within one look keeps the identity",
			[]report.Socket{sock("tcp", "LISTEN", 80, 1, proc(10, "/a"))},
			[]report.Socket{sock("tcp", "LISTEN", 80, 9, proc(10, "/a"))},
			[]string{}},
		{"SO_REUSEPORT workers are one listener",
			nil,
			[]report.Socket{sock("tcp", "LISTEN", 80, 1, proc(10, "/a")), sock("tcp", "LISTEN", 80, 2, proc(12, "/a"))},
			[]string{"opened tcp/80 /a [10 12]"}},
		{"another pid of the same exe is an owner change",
			[]report.Socket{sock("tcp", "LISTEN", 80, 1, proc(10, "/a"))},
			[]report.Socket{sock("tcp", "LISTEN", 80, 1, proc(11, "/a"))},
			[]string{"owner-changed tcp/80 /a [11] from [10]"}},
		{"the same socket under another exe is an owner change",
			[]report.Socket{sock("tcp", "LISTEN", 80, 1, proc(10, "/a"))},
			[]report.Socket{sock("tcp", "LISTEN", 80, 1, proc(11, "/b"))},
			[]string{"owner-changed tcp/80 /b [11] from [10]"}},
		{"a new socket under another exe is a close and an open",
			[]report.Socket{sock("tcp", "LISTEN", 80, 1, proc(10, "/a"))},
			[]report.Socket{sock("tcp", "LISTEN", 80, 2, proc(11, "/b"))},
			[]string{"closed tcp/80 /a [10]", "opened tcp/80 /b [11]"}},
		{"a new finding at the threshold on a known listener",
			[]report.Socket{sock("tcp", "LISTEN", 80, 1, proc(10, "/a"))},
			[]report.Socket{withFindings(sock("tcp", "LISTEN", 80, 1, proc(10, "/a")), high, low)},
			[]string{"finding tcp/80 /a [10] exe-deleted"}},
		{"a finding already there is not new",
			[]report.Socket{withFindings(sock("tcp", "LISTEN", 80, 1, proc(10, "/a")), high)},
			[]report.Socket{withFindings(sock("tcp", "LISTEN", 80, 1, proc(10, "/a")), high)},
			[]string{}},
		{"a new listener carries its findings on the opened event",
			nil,
			[]report.Socket{withFindings(sock("tcp", "LISTEN", 80, 1, proc(10, "/a")), high)},
			[]string{"opened tcp/80 /a [10] exe-deleted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			openedAt := map[Key]time.Time{}
			now := time.Unix(100, 0)
			prev := listenersOf(tt.prev, report.SeverityMedium)
			for k := range prev {
				openedAt[k] = time.Unix(1, 0)
			}
			got := []string{}
			evs, _ := diff(prev, listenersOf(tt.cur, report.SeverityMedium), openedAt, now)
			for _, ev := range evs {
				s := string(ev.Type) + " " + ev.Listener.Protocol + "/" + itoa(ev.Listener.Port) + " " + ev.Listener.Exe + " " + pidsText(ev.Listener.PIDs)
				if ev.Previous != nil {
					s += " from " + pidsText(ev.Previous.PIDs)
				}
				if ev.Finding != nil {
					s += " " + ev.Finding.ID
				}
				if ev.Type == Opened {
					for _, f := range ev.Listener.Findings {
						s += " " + f.ID
					}
				}
				if (ev.Type == Closed || ev.Type == OwnerChanged) && (ev.OpenedAt == nil || !ev.OpenedAt.Equal(time.Unix(1, 0))) {
					s += " (opened_at lost)"
				}
				got = append(got, s)
			}
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

func pidsText(p []int) string {
	s := make([]string, len(p))
	for i, x := range p {
		s[i] = strconv.Itoa(x)
	}
	return "[" + strings.Join(s, " ") + "]"
}
